"""Redeliver the App webhook deliveries that failed: read the delivery log page by page, remember it.

`GET /app/hook/deliveries` answers newest first, 100 a page at most, and is cursor-paginated: the
next page is the `rel="next"` URL of the `Link` header. A round reads back to the recovery window,
or only down to what an earlier round already read (with an overlap for deliveries that were still
in flight, whose attempts are listed by the time they started).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from github import GithubException

from runner_fleet.adapters.github.calls import Session, call
from runner_fleet.logs import get_logger

log = get_logger("github.deliveries")

# A delivery that failed this many times is not retried again by us: its endpoint needs a person.
MAX_ATTEMPTS = 3
# GitHub gives a receiver 10 s: an attempt started that long before the newest one read may be
# listed only now, so each round reads a little further back than where the last one stopped.
OVERLAP_S = 30.0
PER_PAGE = 100
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


def epoch(stamp: Any) -> float:
    if not isinstance(stamp, str):
        return time.time()
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def next_page(headers: Mapping[str, Any]) -> str | None:
    link = next((str(v) for k, v in headers.items() if str(k).lower() == "link"), "")
    found = _NEXT.search(link)
    return found.group(1) if found else None


@dataclass
class _Guid:
    attempts: dict[int, dict[str, Any]] = field(default_factory=dict)  # delivery id -> summary
    asked_after: int | None = None  # the attempt we asked GitHub to repeat

    @property
    def latest(self) -> dict[str, Any]:
        return self.attempts[max(self.attempts)]


class DeliveryLog:
    """The App's failed deliveries, kept between rounds (one reconciler, one process)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._guids: dict[str, _Guid] = {}
        self._newest_at: float | None = None
        self.pages_read = 0

    def redeliver_failed(self, session: Session, since_s: float) -> int:
        cutoff = self._clock() - since_s
        self._read(session, cutoff)
        redelivered = 0
        for guid, entry in list(self._guids.items()):
            latest = entry.latest
            if epoch(latest.get("delivered_at")) < cutoff:
                del self._guids[guid]  # out of the window: forgotten
                continue
            ok = any(200 <= int(d.get("status_code") or 0) < 300 for d in entry.attempts.values())
            if ok or len(entry.attempts) >= MAX_ATTEMPTS or entry.asked_after == int(latest["id"]):
                continue
            try:
                call(session, "POST", f"/app/hook/deliveries/{int(latest['id'])}/attempts")
            except GithubException as exc:
                log.warning("github.redelivery_failed", delivery=guid, status=exc.status)
                continue
            entry.asked_after = int(latest["id"])
            redelivered += 1
            log.info("github.redelivered", delivery=guid, hook_event=latest.get("event"))
        return redelivered

    def _read(self, session: Session, cutoff: float) -> None:
        stop_at = cutoff if self._newest_at is None else max(cutoff, self._newest_at - OVERLAP_S)
        url: str | None = "/app/hook/deliveries"
        parameters: dict[str, Any] | None = {"per_page": PER_PAGE}
        while url is not None:
            answer = call(session, "GET", url, parameters=parameters)
            self.pages_read += 1
            page = answer.data if isinstance(answer.data, list) else []
            for delivery in page:
                at = epoch(delivery.get("delivered_at"))
                self._newest_at = at if self._newest_at is None else max(self._newest_at, at)
                if at >= cutoff:
                    entry = self._guids.setdefault(str(delivery.get("guid")), _Guid())
                    entry.attempts[int(delivery["id"])] = delivery
            if not page or min(epoch(d.get("delivered_at")) for d in page) < stop_at:
                return
            url, parameters = next_page(answer.headers), None
