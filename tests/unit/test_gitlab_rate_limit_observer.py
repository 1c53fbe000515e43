"""The GitLab rate-limit observer: the scan stops at the reserve, and starts again in a new window."""

from __future__ import annotations

from dataclasses import dataclass, field

from runner_fleet.adapters.gitlab.rate_limit import RateLimitObserver


@dataclass
class Answer:
    headers: dict[str, str] = field(default_factory=dict)


def _answer(limit: int, remaining: int, reset: float) -> Answer:
    return Answer(
        {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining), "RateLimit-Reset": str(reset)}
    )


def test_without_a_reported_limit_the_scan_may_always_spend() -> None:
    """Self-managed GitLab reports no limit by default: nothing holds the scan back."""
    observer = RateLimitObserver(clock=lambda: 1000.0)
    observer.hook(Answer({"Content-Type": "application/json"}))
    assert observer.last is None and observer.scan_may_spend()


def test_the_scan_stops_when_only_the_reserve_is_left() -> None:
    """With 2,000 a minute the reserve is 400: 401 left may still be spent, 400 not."""
    observer = RateLimitObserver(clock=lambda: 1000.0)
    observer.hook(_answer(2000, 401, 1030.0))
    assert observer.scan_may_spend()
    observer.hook(_answer(2000, 400, 1030.0))
    assert not observer.scan_may_spend()


def test_a_small_limit_keeps_at_least_twenty_for_runners() -> None:
    """A limit of 50 a minute still leaves 20 requests to provisions and releases."""
    observer = RateLimitObserver(clock=lambda: 1000.0)
    observer.hook(_answer(50, 20, 1030.0))
    assert not observer.scan_may_spend()


def test_a_new_window_lets_the_scan_go_on() -> None:
    """Once the reported reset time has passed, the scan may spend again before any new answer."""
    now = [1000.0]
    observer = RateLimitObserver(clock=lambda: now[0])
    observer.hook(_answer(2000, 0, 1030.0))
    assert not observer.scan_may_spend()
    now[0] = 1030.0
    assert observer.scan_may_spend()
