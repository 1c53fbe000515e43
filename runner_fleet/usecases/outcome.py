"""What both webhook intakes share: the answer, the limits on what they read, and refusing cheaply."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runner_fleet.events.base import MalformedEvent
from runner_fleet.forges import Forge
from runner_fleet.telemetry import traces


@dataclass(frozen=True)
class WebhookOutcome:
    """How the HTTP adapter should answer: the status code and a short reason for the forge's log."""

    status: int
    reason: str
    queued: str | None = None

    @property
    def body(self) -> dict[str, str]:
        return {"status": self.reason} | ({"queued": self.queued} if self.queued else {})


async def in_job_trace(
    forge: Forge,
    job_id: int,
    attributes: traces.Attributes,
    received_ns: int,
    work: Awaitable[WebhookOutcome],
) -> WebhookOutcome:
    """An intake's `work` on a job's webhook, awaited as a span of the job's trace from when the
    webhook came: the messages sent from there carry its traceparent; the answer's status is noted."""
    with traces.job_span(
        f"webhook {forge}", forge, job_id, attributes=attributes, start_time_ns=received_ns
    ) as span:
        outcome = await work
        traces.set_attributes(span, status=outcome.status)
    return outcome


# A workflow_job or Job Hook payload is a few kilobytes; anything near this is not one, and
# refusing it before the HMAC keeps a flood of large forged bodies cheap.
MAX_BODY_BYTES = 1024 * 1024
# Delivery ids are UUIDs (X-GitHub-Delivery, Idempotency-Key, X-Gitlab-Event-UUID, webhook-id).
# They become state-table keys, which Azure Tables caps at 1 KiB after `encode_key`; visible ASCII
# at most triples there, so this bound keeps every key well inside the cap.
MAX_DELIVERY_ID_CHARS = 128
_DELIVERY_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_DELIVERY_ID_CHARS}}}")
# Event names are short words ("workflow_job", "Job Hook"); the longest GitHub sends is ~35 chars.
_EVENT_NAME = re.compile(r"[A-Za-z0-9_ .-]{1,64}")


def is_delivery_id(value: str) -> bool:
    return _DELIVERY_ID.fullmatch(value) is not None


def is_event_name(value: str) -> bool:
    return _EVENT_NAME.fullmatch(value) is not None


def load_json_object(body: bytes) -> Mapping[str, Any]:
    """The body as a JSON object, or `MalformedEvent` for anything a hostile sender could craft.

    JSON between systems is UTF-8 (RFC 8259); accepting the UTF-16/32 that json.loads would detect
    only widens what reaches the event classes. Nesting deep enough to exhaust the parser's
    recursion, NaN and Infinity, over-long integers and escaped lone surrogates are all refused.
    """
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedEvent("body is nested too deeply") from None
    except UnicodeError:
        raise MalformedEvent("body is not UTF-8 text") from None
    except ValueError:
        # The parser's message quotes the body; it stays out of the answer and the logs.
        raise MalformedEvent("body is not JSON") from None
    if "\\u" in text and not _encodes_as_utf8(data):
        raise MalformedEvent("body escapes a lone surrogate")
    if not isinstance(data, Mapping):
        raise MalformedEvent("payload must be a JSON object")
    return data


def _encodes_as_utf8(data: object) -> bool:
    # A lone surrogate (only an escape can make one) fails later in the queue, the state table
    # and every SDK, each with a 500; this is the one place that sees all of the payload.
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, RecursionError):
        return False
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class Headers:
    """Case-insensitive, read-only view of request headers (hosts disagree on their case)."""

    def __init__(self, raw: object) -> None:
        items = raw.items() if hasattr(raw, "items") else []
        self._h = {str(k).lower(): str(v) for k, v in items}

    def get(self, name: str) -> str | None:
        return self._h.get(name.lower())


class _Bucket:
    __slots__ = ("at", "suppressed", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens, self.at, self.suppressed = tokens, at, 0


class RejectionLog:
    """`webhook.rejected`, at most a burst and then a trickle per forge and reason.

    A flood of forged requests would otherwise be a log line each, and a logging bill. A token
    bucket per (forge, reason) lets `burst` lines through at once and one more every `refill_s`;
    the lines it holds back are counted and the count rides on the next line it lets through as
    `suppressed`.
    """

    # Reasons are a handful of constants; the cap only guards against one ever carrying input.
    MAX_KEYS = 64

    def __init__(
        self, *, burst: int = 10, refill_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = float(burst)
        self._refill_s = refill_s
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _admit(self, key: tuple[str, str]) -> int | None:
        """None to hold the line back; else how many lines of this key were held back before it."""
        now = self._clock()
        with self._lock:
            if key not in self._buckets and len(self._buckets) >= self.MAX_KEYS:
                key = (key[0], "other")
            bucket = self._buckets.setdefault(key, _Bucket(self._burst, now))
            bucket.tokens = min(self._burst, bucket.tokens + max(0.0, now - bucket.at) / self._refill_s)
            bucket.at = now
            if bucket.tokens < 1.0:
                bucket.suppressed += 1
                return None
            bucket.tokens -= 1.0
            suppressed, bucket.suppressed = bucket.suppressed, 0
            return suppressed

    def flush(self, log: Any) -> int:
        """Log what is held back and not yet reported (a flood that stopped); how many lines that was."""
        with self._lock:
            pending = {key: bucket.suppressed for key, bucket in self._buckets.items() if bucket.suppressed}
            for key in pending:
                self._buckets[key].suppressed = 0
        for (forge, reason), count in pending.items():
            log.warning("webhook.rejected", forge=forge, reason=reason, suppressed=count, flushed=True)
        return len(pending)

    def record(self, log: Any, *, forge: Forge, reason: str) -> None:
        suppressed = self._admit((forge, reason))
        if suppressed is None:
            return
        extra = {"suppressed": suppressed} if suppressed else {}
        log.warning("webhook.rejected", forge=forge, reason=reason, **extra)


_rejections = RejectionLog()


def rejections() -> RejectionLog:
    """The process's rejection log: intakes are built per request, the buckets must outlive them."""
    return _rejections


def use_rejections(log: RejectionLog) -> RejectionLog:
    """Make `log` the process's rejection log (tests give it a clock); returns the one it replaces."""
    global _rejections
    previous, _rejections = _rejections, log
    return previous
