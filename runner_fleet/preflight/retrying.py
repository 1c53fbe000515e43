"""Retry transient read failures of the preflight reader, so a throttled read is not a failed check.

A preflight that fails blocks a pool's provisioning; a 429 or a 503 on one read says nothing about the
network, so those reads are retried (the same reasoning as the ARM retry layer) before a check sees them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from runner_fleet.preflight.reader import TopologyReader, TransientReadError

ATTEMPTS = 5


class RetryingReader:
    """Wraps a TopologyReader; every async read is retried on TransientReadError."""

    def __init__(self, inner: TopologyReader, *, base_s: float = 0.5, max_wait_s: float = 8.0) -> None:
        self._inner = inner
        self._base_s, self._max_wait_s = base_s, max_wait_s

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name == "close" or not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._retry(lambda: target(*args, **kwargs))

        return call

    async def _retry(self, operation: Callable[[], Awaitable[Any]]) -> Any:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientReadError),
            wait=wait_random_exponential(multiplier=self._base_s, max=self._max_wait_s),
            stop=stop_after_attempt(ATTEMPTS),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await operation()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
