"""The last answer to each GET the scan repeats, with its ETag, for conditional requests.

GitHub ("Best practices for using the REST API", "Use conditional requests if appropriate"):
"Making a conditional request does not count against your primary rate limit if a 304 response is
returned." A repository whose queued runs did not change since the last round thus costs nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from runner_fleet.adapters.github.calls import Answer, Session, call

# Enough for the queued runs and their jobs of a few thousand repositories; the least recently
# used entry goes first.
MAX_ENTRIES = 8192


def _key(url: str, parameters: dict[str, Any] | None) -> str:
    return url + "?" + "&".join(f"{k}={v}" for k, v in sorted((parameters or {}).items()))


class EtagCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[str, Any]] = OrderedDict()

    def cached(self, url: str, parameters: dict[str, Any] | None = None) -> Any | None:
        """The body last read for this GET, without asking GitHub (None if never read)."""
        entry = self._entries.get(_key(url, parameters))
        return entry[1] if entry is not None else None

    def get(self, session: Session, url: str, parameters: dict[str, Any] | None = None) -> Answer:
        """A conditional GET; on 304 the answer carries the body read last time."""
        key = _key(url, parameters)
        entry = self._entries.get(key)
        answer = call(session, "GET", url, parameters=parameters, etag=entry[0] if entry else None)
        if answer.not_modified and entry is not None:
            self._entries.move_to_end(key)
            return Answer(304, answer.headers, entry[1])
        etag = next((str(v) for k, v in answer.headers.items() if str(k).lower() == "etag"), None)
        if etag:
            self._entries[key] = (etag, answer.data)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        else:
            self._entries.pop(key, None)
        return answer
