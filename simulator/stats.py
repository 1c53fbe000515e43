"""Counters a test or benchmark reads to check what the service under test did."""

from __future__ import annotations

from collections import Counter


class Stats:
    """Named counters, one set per simulator."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def incr(self, name: str, by: int = 1) -> None:
        self._counts[name] += by

    def snapshot(self) -> dict[str, int]:
        return dict(self._counts)
