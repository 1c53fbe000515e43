"""A GitHub credential's budget: what answers say, the waits GitHub asks for, the scan's share."""

from __future__ import annotations

import pytest

from runner_fleet.adapters.github.budget import (
    UNKNOWN_ALLOWANCE,
    Budgets,
    CredentialBudget,
    RateLimited,
    RateLimitReading,
)
from runner_fleet.ports.forge import ForgeRateLimited

T0 = 1_800_000_000.0
SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def headers(remaining: int, *, limit: int = 5000, reset: float = T0 + 3600, **extra: str) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-used": str(limit - remaining),
        "x-ratelimit-reset": str(int(reset)),
        "x-ratelimit-resource": "core",
        **extra,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def budget(clock: Clock) -> CredentialBudget:
    return CredentialBudget("installation 1", clock=clock)


def test_headers_are_read_whatever_their_case() -> None:
    """The five x-ratelimit headers make one reading; without limit, remaining or reset there is none."""
    reading = RateLimitReading.of(
        {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "9"}
    )
    assert reading == RateLimitReading(5000, 12, 9.0, None, "core")
    assert RateLimitReading.of({"x-ratelimit-limit": "5000"}) is None


def test_the_lowest_count_of_a_window_wins(budget: CredentialBudget) -> None:
    """Answers that arrive out of order do not raise what is left; a later window replaces the figures."""
    budget.observe(headers(4000))
    budget.observe(headers(4100))
    assert budget.remaining() == 4000
    budget.observe(headers(4999, reset=T0 + 7200))
    assert budget.remaining() == 4999


def test_other_resources_leave_the_core_budget_alone(budget: CredentialBudget) -> None:
    """Search and GraphQL have budgets of their own: their headers do not change the core figures."""
    budget.observe(headers(4000))
    budget.observe({**headers(3), "x-ratelimit-resource": "search"})
    assert budget.remaining() == 4000


def test_figures_expire_with_their_window(budget: CredentialBudget, clock: Clock) -> None:
    """After the reset time nothing is known until the next answer."""
    budget.observe(headers(10))
    clock.t = T0 + 3600
    assert budget.remaining() is None and budget.limit() is None


def test_primary_exhaustion_blocks_until_the_reset(budget: CredentialBudget, clock: Clock) -> None:
    """403 with remaining 0 is the primary limit: every call waits until x-ratelimit-reset."""
    limited = budget.refused(
        403, headers(0, reset=T0 + 900), "API rate limit exceeded for installation ID 1."
    )
    assert limited is not None and limited.primary and limited.retry_after_s == 900
    with pytest.raises(RateLimited) as caught:
        budget.check()
    assert caught.value.retry_at == T0 + 900
    clock.t = T0 + 900
    budget.check()


def test_retry_after_is_honoured(budget: CredentialBudget, clock: Clock) -> None:
    """A secondary limit with Retry-After blocks for exactly that long."""
    limited = budget.refused(429, {**headers(4000), "Retry-After": "30"}, SECONDARY)
    assert limited is not None and not limited.primary and limited.retry_after_s == 30
    clock.t = T0 + 29
    with pytest.raises(RateLimited):
        budget.check()
    clock.t = T0 + 30
    budget.check()


def test_secondary_limits_without_retry_after_back_off_exponentially(
    budget: CredentialBudget, clock: Clock
) -> None:
    """Without Retry-After: a minute, then two, ...; an answer that is not a limit starts over."""
    first = budget.refused(403, headers(4000), SECONDARY)
    second = budget.refused(403, headers(4000), SECONDARY)
    assert first is not None and second is not None
    assert (first.retry_after_s, second.retry_after_s) == (60, 120)
    budget.succeeded()
    third = budget.refused(403, headers(4000), SECONDARY)
    assert third is not None and third.retry_after_s == 60


def test_a_permission_error_is_not_a_rate_limit(budget: CredentialBudget) -> None:
    """403 "Resource not accessible by integration" with budget left blocks nothing."""
    assert budget.refused(403, headers(4000), "Resource not accessible by integration") is None
    assert budget.refused(404, headers(0), "Not Found") is None
    budget.check()


def test_a_bare_429_is_a_rate_limit(budget: CredentialBudget) -> None:
    """429 always means too many requests, even without headers: wait a minute."""
    limited = budget.refused(429, {}, "")
    assert limited is not None and limited.retry_after_s == 60


def test_rate_limited_is_a_forge_deferral(budget: CredentialBudget) -> None:
    """The adapter's refusal is the port's ForgeRateLimited, which the provision step defers on."""
    limited = budget.refused(403, headers(0, reset=T0 + 60), "API rate limit exceeded")
    assert isinstance(limited, ForgeRateLimited)
    assert "installation 1" in str(limited) and limited.retry_after_s == 60


def test_registration_is_never_held_back_by_the_reserve(budget: CredentialBudget) -> None:
    """With one request left, below any reserve, an essential call still goes."""
    budget.observe(headers(1))
    budget.check()
    assert not budget.above_reserve(100)


def test_the_scan_spreads_what_is_above_the_reserve_over_the_rounds_left(
    budget: CredentialBudget, clock: Clock
) -> None:
    """1,300 left, a reserve of 100, 60 one-minute rounds to the reset: 20 a round."""
    budget.observe(headers(1300))
    assert budget.scan_allowance(reserve=100, round_s=60) == 20
    clock.t = T0 + 3540  # one round left: all of it
    assert budget.scan_allowance(reserve=100, round_s=60) == 1200


def test_the_scan_gets_nothing_at_or_below_the_reserve(budget: CredentialBudget) -> None:
    """At the reserve the scan stops; above it, it gets at least one request."""
    budget.observe(headers(100))
    assert budget.scan_allowance(reserve=100, round_s=60) == 0
    budget.observe(headers(99))
    assert budget.scan_allowance(reserve=100, round_s=60) == 0
    budget.observe(headers(200, reset=T0 + 7200))
    assert budget.scan_allowance(reserve=100, round_s=60) == 1


def test_the_reserve_is_capped_at_half_the_limit(budget: CredentialBudget) -> None:
    """A reserve larger than half the limit counts as half, so the scan is never stopped for good."""
    budget.observe(headers(3000, reset=T0 + 60))
    assert budget.scan_allowance(reserve=10_000, round_s=60) == 500
    assert budget.above_reserve(10_000)


def test_an_unknown_budget_allows_a_probe_and_a_blocked_one_nothing(budget: CredentialBudget) -> None:
    """Before any answer the scan may probe; while GitHub asks us to wait it may not spend at all."""
    assert budget.scan_allowance(reserve=100, round_s=60) == UNKNOWN_ALLOWANCE
    budget.refused(403, {"Retry-After": "10"}, SECONDARY)
    assert budget.scan_allowance(reserve=100, round_s=60) == 0
    assert not budget.above_reserve(0)


def test_one_budget_per_credential(clock: Clock) -> None:
    """Budgets are made on first use and shared by every caller of the same credential."""
    budgets = Budgets(clock=clock)
    assert budgets.of("installation 1") is budgets.of("installation 1")
    assert budgets.of("installation 1") is not budgets.of("token")
    assert {b.credential for b in budgets.all()} == {"installation 1", "token"}
