"""warm_now: the target in force for a static, scheduled or adaptive pool, and when a schedule changes."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from runner_fleet.settings import Pool
from runner_fleet.warm.auto import Demand
from runner_fleet.warm.policy import WarmNow, pool_warm_ceiling, warm_now
from tests.builders import make_pool

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = {"start": "30 7 * * 1-5", "end": "0 18 * * 1-5", "timezone": "Europe/Berlin", "warm": 4}
SATURDAY = {"start": "0 10 * * 6", "end": "0 14 * * 6", "timezone": "Europe/Berlin", "warm": 1}


def _pool(warm: Any, max_runners: int = 10) -> Pool:
    return make_pool("aks-prod", limits={"max_runners": max_runners, "warm": warm})


def _berlin(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).timestamp()


def _window(start: str, end: str, warm: int, timezone: str = "Europe/Berlin") -> dict[str, Any]:
    return {"start": start, "end": end, "timezone": timezone, "warm": warm}


def test_a_static_pool_keeps_its_number() -> None:
    """A number is the target at any time, with no change ahead."""
    assert warm_now(_pool(3), time.time()) == WarmNow(3, "static", "static 3")


def test_a_weekday_window_is_in_force_from_start_to_end() -> None:
    """Inside Monday-Friday 07:30-18:00 Berlin the window's count holds, outside it `otherwise`."""
    pool = _pool({"schedule": [WEEKDAYS], "otherwise": 1})
    inside = warm_now(pool, _berlin(2026, 11, 30, 7, 30))
    assert (inside.target, inside.mode) == (4, "schedule")
    assert inside.reason == "window 30 7 * * 1-5 .. 0 18 * * 1-5 Europe/Berlin"
    assert warm_now(pool, _berlin(2026, 11, 30, 7, 29)).target == 1
    assert warm_now(pool, _berlin(2026, 11, 30, 18, 0)).target == 1
    assert warm_now(pool, _berlin(2026, 11, 28, 12, 0)).reason == "no window in force: otherwise 1"


def test_the_next_change_is_when_and_what_the_target_becomes() -> None:
    """Friday afternoon the target drops at 18:00; Friday night it rises on Saturday at 10:00."""
    pool = _pool({"schedule": [WEEKDAYS, SATURDAY]})
    friday = warm_now(pool, _berlin(2026, 11, 27, 15, 0))
    assert (friday.target, friday.next_change_at, friday.next_target) == (4, _berlin(2026, 11, 27, 18, 0), 0)
    night = warm_now(pool, _berlin(2026, 11, 27, 23, 0))
    assert (night.target, night.next_change_at, night.next_target) == (0, _berlin(2026, 11, 28, 10, 0), 1)


def test_the_largest_window_in_force_wins() -> None:
    """Overlapping windows: the largest count in force is the target, and the change is when it ends."""
    lunch = _window("0 12 * * *", "0 13 * * *", 6)
    pool = _pool({"schedule": [WEEKDAYS, lunch]})
    decided = warm_now(pool, _berlin(2026, 11, 30, 12, 30))
    assert (decided.target, decided.reason) == (6, "window 0 12 * * * .. 0 13 * * * Europe/Berlin")
    assert (decided.next_change_at, decided.next_target) == (_berlin(2026, 11, 30, 13, 0), 4)


def test_a_start_and_end_in_the_same_minute_leave_the_window_closed() -> None:
    """The start must be later than the end: firing together, the window is not in force."""
    pool = _pool({"schedule": [_window("0 9 * * *", "0 9 * * *", 3)]})
    assert warm_now(pool, _berlin(2026, 11, 30, 9, 30)).target == 0


def test_a_schedule_that_never_changes_says_so() -> None:
    """When no firing within 8 days changes the target, there is no next change."""
    pool = _pool({"schedule": [_window("0 9 * * *", "0 17 * * *", 2)], "otherwise": 2})
    decided = warm_now(pool, _berlin(2026, 11, 30, 12, 0))
    assert (decided.target, decided.next_change_at, decided.next_target) == (2, None, None)


def test_windows_are_read_in_their_own_zone() -> None:
    """A New York window 09:00-17:00 is in force at 15:30 Berlin (09:30 New York), not at 09:30 Berlin."""
    pool = _pool({"schedule": [_window("0 9 * * *", "0 17 * * *", 2, "America/New_York")]})
    assert warm_now(pool, _berlin(2026, 11, 30, 15, 30)).target == 2
    assert warm_now(pool, _berlin(2026, 11, 30, 9, 30)).target == 0


def test_a_window_over_the_spring_change_lasts_the_real_hour() -> None:
    """01:00-03:00 on the night Berlin skips 02:00-02:59 is one hour of real time."""
    pool = _pool({"schedule": [_window("0 1 * * *", "0 3 * * *", 2)]})
    decided = warm_now(pool, _berlin(2026, 3, 29, 1, 0))
    assert decided.target == 2
    assert decided.next_change_at == _berlin(2026, 3, 29, 1, 0) + 3600


def test_a_window_starting_in_the_repeated_autumn_hour_covers_it_as_the_clock_shows() -> None:
    """02:30-03:00 on the night Berlin repeats 02:00-02:59 runs from the first 02:30 to 03:00, 1.5 hours."""
    pool = _pool({"schedule": [_window("30 2 * * *", "0 3 * * *", 2)]})
    first_0230 = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN).timestamp()
    decided = warm_now(pool, first_0230)
    assert decided.target == 2
    assert decided.next_change_at == first_0230 + 5400
    # 02:15 the second time round (after the clock went back) is inside the window.
    assert warm_now(pool, first_0230 + 2700).target == 2


def test_a_start_is_forgotten_after_eight_days() -> None:
    """A window whose end is 19 days after its start holds for 8 days, and the change is announced."""
    pool = _pool({"schedule": [_window("0 8 1 * *", "0 8 20 * *", 3)]})
    started = _berlin(2026, 12, 1, 8, 0)
    decided = warm_now(pool, started + 86400)
    assert (decided.target, decided.next_change_at, decided.next_target) == (3, started + 8 * 86400, 0)
    assert warm_now(pool, started + 8 * 86400).target == 0
    assert warm_now(pool, started + 8 * 86400 - 1).target == 3


def test_the_announced_change_is_what_happens() -> None:
    """Over a week in three zones: at next_change_at the target is next_target, just before it unchanged."""
    pool = _pool(
        {
            "schedule": [
                WEEKDAYS,
                SATURDAY,
                _window("0 9 * * mon", "0 12 * * mon", 6, "America/New_York"),
                _window("*/30 * * * *", "15,45 * * * *", 2, "Asia/Kolkata"),
            ],
            "otherwise": 1,
        }
    )
    t = _berlin(2026, 11, 27, 0, 7)
    end = t + timedelta(days=7).total_seconds()
    seen = 0
    while t < end:
        decided = warm_now(pool, t)
        assert decided.next_change_at is not None and decided.next_change_at > t
        assert warm_now(pool, decided.next_change_at - 1).target == decided.target
        assert warm_now(pool, decided.next_change_at).target == decided.next_target != decided.target
        t = decided.next_change_at
        seen += 1
    assert seen > 300


def test_an_adaptive_pool_follows_demand_and_keeps_min_without_it() -> None:
    """Without a demand snapshot the target is `min`; with one it is sized from it."""
    pool = _pool({"auto": {"min": 1, "max": 6, "idle_budget_vm_hours_per_day": 8}})
    assert warm_now(pool, time.time()).target == 1
    assert warm_now(pool, time.time()).mode == "auto"
    busy = Demand(arrivals=60, window_s=900, cold_start_s=90, idle_vm_s_today=0, burst_p90=1)
    assert warm_now(pool, time.time(), busy).target > 1


def test_the_ceiling_is_the_most_the_setting_can_ask_for() -> None:
    """Static: the number; schedule: the largest window or otherwise; auto: its max."""
    assert pool_warm_ceiling(_pool(2)) == 2
    assert pool_warm_ceiling(_pool({"schedule": [WEEKDAYS, SATURDAY], "otherwise": 5})) == 5
    assert pool_warm_ceiling(_pool({"schedule": [WEEKDAYS, SATURDAY]})) == 4
    assert pool_warm_ceiling(_pool({"auto": {"max": 7, "idle_budget_vm_hours_per_day": 1}})) == 7


def test_a_four_window_schedule_is_evaluated_in_well_under_50_ms() -> None:
    """warm_now for a pool with four windows, each evaluated afresh, averages below 50 ms."""
    pool = _pool(
        {
            "schedule": [
                WEEKDAYS,
                SATURDAY,
                _window("0 6 * * 0", "0 8 * * 0", 2),
                _window("0 20 * * 1-5", "0 22 * * 1-5", 3, "America/New_York"),
            ]
        }
    )
    start = time.perf_counter()
    for hour in range(50):
        warm_now(pool, _berlin(2026, 11, 27, 0, 0) + hour * 3571)
    assert (time.perf_counter() - start) / 50 < 0.05
