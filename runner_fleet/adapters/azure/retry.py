"""The one retry layer for Resource Manager calls: whole operations, honouring Retry-After.

The SDK's own retry policy is switched off (retry_total=0) so retries never multiply; an operation
that fails with a throttle, a server error or a dropped connection is repeated as a whole (a VM PUT
with a deterministic name is idempotent), waiting as long as Azure asked, or with jittered backoff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_random_exponential

from runner_fleet.logs import get_logger

log = get_logger("retry")
T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_ATTEMPTS = 6
MAX_ELAPSED_S = 180.0
MAX_RETRY_AFTER_S = 60.0


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return True
    return isinstance(exc, HttpResponseError) and (exc.status_code or 0) in RETRYABLE_STATUS


def is_throttle(exc: BaseException) -> bool:
    return isinstance(exc, HttpResponseError) and exc.status_code == 429


def retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (Retry-After or retry-after-ms), capped."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    try:
        if "retry-after-ms" in lowered:
            return min(float(lowered["retry-after-ms"]) / 1000.0, MAX_RETRY_AFTER_S)
        if "retry-after" in lowered:
            return min(float(lowered["retry-after"]), MAX_RETRY_AFTER_S)
    except ValueError:
        return None
    return None


class _WaitForServer:
    """Wait what Retry-After says; otherwise jittered exponential backoff."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self._backoff = wait_random_exponential(multiplier=base_s, max=max_s)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_s(exc)
        return asked if asked is not None else float(self._backoff(state))


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    base_s: float = 1.0,
    max_wait_s: float = 30.0,
    retry_throttles: bool = True,
) -> T:
    """`operation()`, repeated on throttles (unless `retry_throttles` is False: the caller would
    rather give the wait back to its queue than hold a worker), server errors and dropped connections."""

    def _log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "arm.retrying",
            operation=what,
            attempt=state.attempt_number,
            status=getattr(exc, "status_code", None),
            error=type(exc).__name__,
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception(
            _retryable if retry_throttles else (lambda exc: _retryable(exc) and not is_throttle(exc))
        ),
        wait=_WaitForServer(base_s, max_wait_s),
        stop=stop_after_attempt(MAX_ATTEMPTS) | stop_after_delay(MAX_ELAPSED_S),
        before_sleep=_log,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await operation()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
