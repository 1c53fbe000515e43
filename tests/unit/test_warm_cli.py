"""How `runner-fleet pools` shows a pool's warm setting and the target in force."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from runner_fleet.cli.pools import describe_warm
from tests.builders import make_pool

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = {"start": "30 7 * * 1-5", "end": "0 18 * * 1-5", "timezone": "Europe/Berlin", "warm": 4}


def _describe(warm: Any, at: datetime) -> str:
    pool = make_pool("aks-prod", limits={"max_runners": 8, "warm": warm})
    return describe_warm(pool, at.timestamp())


def test_a_static_count_is_shown_as_it_is() -> None:
    """warm: 2 reads `2`."""
    assert _describe(2, datetime(2026, 11, 30, 12, 0, tzinfo=BERLIN)) == "2"


def test_a_schedule_shows_the_target_now_and_the_next_change_in_its_zone_and_utc() -> None:
    """A schedule shows the count in force, the window deciding it, the next change in its zone and UTC."""
    assert _describe(
        {"schedule": [WEEKDAYS], "otherwise": 1}, datetime(2026, 11, 27, 12, 0, tzinfo=BERLIN)
    ) == (
        "4 now (window 30 7 * * 1-5 .. 0 18 * * 1-5 Europe/Berlin); "
        "1 from Fri 2026-11-27 18:00 CET (2026-11-27 17:00 UTC)"
    )


def test_a_schedule_without_a_change_ahead_says_so() -> None:
    """When the target stays for 8 days, the row says there is no change."""
    steady = {"start": "0 9 * * *", "end": "0 17 * * *", "timezone": "UTC", "warm": 1}
    assert _describe(
        {"schedule": [steady], "otherwise": 1}, datetime(2026, 11, 30, 12, 0, tzinfo=BERLIN)
    ) == ("1 now (window 0 9 * * * .. 0 17 * * * UTC); no change within 8 days")


def test_an_adaptive_setting_shows_its_bounds_and_budget() -> None:
    """auto reads `auto (min..max, budget N VM-h/day)`."""
    auto = {"auto": {"min": 1, "max": 6, "idle_budget_vm_hours_per_day": 7.5}}
    assert _describe(auto, datetime(2026, 11, 30, 12, 0, tzinfo=BERLIN)) == "auto (1..6, budget 7.5 VM-h/day)"
