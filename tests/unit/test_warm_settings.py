"""`limits.warm`: a number, a schedule of windows, or adaptive; every error names its field."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from runner_fleet.settings import Pool, SettingsError, load_pools, load_service_settings
from runner_fleet.settings.pool import WarmAuto, WarmSchedule
from tests.builders import pool_dict

GOOD_ENV = {"GITHUB_WEBHOOK_SECRET": "s3cret-value", "GITHUB_TOKEN": "ghp_" + "a" * 36}
WINDOW = {"start": "30 7 * * 1-5", "end": "0 18 * * 1-5", "timezone": "Europe/Berlin", "warm": 4}

EXAMPLE = """
pools:
  - name: aks-prod
    limits:
      max_runners: 8
      warm:
        schedule:
          - {start: "30 7 * * 1-5", end: "0 18 * * 1-5", timezone: Europe/Berlin, warm: 4}
          - {start: "0 10 * * 6", end: "0 14 * * 6", timezone: Europe/Berlin, warm: 1}
        otherwise: 0
  - name: aks-dev
    limits:
      max_runners: 8
      warm:
        auto: {min: 0, max: 6, idle_budget_vm_hours_per_day: 8}
"""


def _pool(warm: Any, max_runners: int = 8) -> Pool:
    settings = load_service_settings(
        {
            **GOOD_ENV,
            "RUNNER_POOLS": json.dumps([pool_dict(limits={"max_runners": max_runners, "warm": warm})]),
        }
    )
    return load_pools(settings)[0]


def _error(warm: Any, max_runners: int = 8) -> str:
    with pytest.raises(SettingsError) as caught:
        _pool(warm, max_runners)
    return str(caught.value)


def test_the_documented_schedule_and_auto_examples_load() -> None:
    """The schedule and auto examples of the pool settings validate as written."""
    entries = yaml.safe_load(EXAMPLE)["pools"]
    scheduled = _pool(entries[0]["limits"]["warm"])
    adaptive = _pool(entries[1]["limits"]["warm"])
    assert isinstance(scheduled.limits.warm, WarmSchedule)
    assert [w.warm for w in scheduled.limits.warm.schedule] == [4, 1]
    assert adaptive.limits.warm_auto == WarmAuto(min=0, max=6, idle_budget_vm_hours_per_day=8)


def test_a_number_stays_a_number_and_the_helpers_tell_the_forms_apart() -> None:
    """A static count reads back as an int; static_warm, warm_schedule and warm_auto pick out each form."""
    static = _pool(3)
    assert static.limits.warm == 3
    assert (static.limits.static_warm, static.limits.warm_schedule, static.limits.warm_auto) == (
        3,
        None,
        None,
    )
    scheduled = _pool({"schedule": [WINDOW]})
    assert scheduled.limits.static_warm is None
    assert scheduled.limits.warm_schedule is not None
    assert scheduled.limits.warm_schedule.otherwise == 0
    adaptive = _pool({"auto": {"max": 2, "idle_budget_vm_hours_per_day": 1.5}})
    assert adaptive.limits.warm_auto is not None
    assert (adaptive.limits.warm_auto.window_s, adaptive.limits.warm_auto.target_hit_ratio) == (900, 0.9)
    assert _pool(0).limits.static_warm == 0


def test_auto_settings_round_trip_through_json() -> None:
    """A pool dumped as JSON (as `pools --json` does) validates back to the same pool."""
    pool = _pool({"schedule": [WINDOW], "otherwise": 1})
    assert Pool.model_validate(pool.model_dump(mode="json")) == pool


@pytest.mark.parametrize(
    ("warm", "message"),
    [
        (-1, "field 'limits.warm': must be at least 0"),
        (True, "field 'limits.warm': must be a number of runners, {schedule"),
        ("4", "field 'limits.warm': must be a number of runners"),
        ({"windows": []}, "field 'limits.warm': must be a number of runners"),
        ({"schedule": [WINDOW], "auto": {}}, "field 'limits.warm': set schedule or auto, not both"),
        ({"schedule": []}, "field 'limits.warm.schedule': needs at least one window"),
        (
            {"schedule": [{**WINDOW, "start": "30 7 * *"}]},
            "field 'limits.warm.schedule[0].start': '30 7 * *' needs 5",
        ),
        (
            {"schedule": [WINDOW, {**WINDOW, "end": "0 25 * * *"}]},
            "field 'limits.warm.schedule[1].end': hour",
        ),
        ({"schedule": [{**WINDOW, "start": "0 8 30 2 *"}]}, "schedule[0].start': '0 8 30 2 *' does not fire"),
        (
            {"schedule": [{**WINDOW, "timezone": "Europe/Atlantis"}]},
            "schedule[0].timezone': 'Europe/Atlantis' is not",
        ),
        (
            {"schedule": [{**WINDOW, "warm": -2}]},
            "field 'limits.warm.schedule[0].warm': Input should be greater",
        ),
        ({"schedule": [{**WINDOW, "until": "x"}]}, "field 'limits.warm.schedule[0].until': Extra inputs"),
        ({"schedule": [WINDOW], "otherwise": -1}, "field 'limits.warm.otherwise'"),
        (
            {"auto": {"min": 3, "max": 2, "idle_budget_vm_hours_per_day": 8}},
            "'limits.warm.auto': min (3) cannot exceed max (2)",
        ),
        (
            {"auto": {"max": 2, "idle_budget_vm_hours_per_day": 0}},
            "auto.idle_budget_vm_hours_per_day': Input",
        ),
        (
            {"auto": {"max": 2, "idle_budget_vm_hours_per_day": 1, "window_s": 30}},
            "'limits.warm.auto.window_s'",
        ),
        (
            {"auto": {"max": 2, "idle_budget_vm_hours_per_day": 1, "target_hit_ratio": 1}},
            "auto.target_hit_ratio'",
        ),
        ({"auto": {"idle_budget_vm_hours_per_day": 1}}, "field 'limits.warm.auto.max': Field required"),
    ],
)
def test_bad_warm_settings_name_the_field(warm: Any, message: str) -> None:
    """Each mistake is reported with the pool, the path to the field inside `warm`, and what is wrong."""
    text = _error(warm)
    assert f"pool 'aks-prod' (#1): {message}" in text or (
        "pool 'aks-prod' (#1): field 'limits.warm" in text and message in text
    ), text


@pytest.mark.parametrize(
    ("warm", "named"),
    [
        (9, ": 9"),
        ({"schedule": [WINDOW, {**WINDOW, "warm": 9}]}, "warm.schedule[1].warm is 9"),
        ({"schedule": [WINDOW], "otherwise": 12}, "warm.otherwise is 12"),
        ({"auto": {"max": 10, "idle_budget_vm_hours_per_day": 1}}, "warm.auto.max is 10"),
    ],
)
def test_no_warm_count_may_exceed_max_runners(warm: Any, named: str) -> None:
    """Static, window, otherwise and auto max counts above max_runners are refused, naming the count."""
    text = _error(warm, max_runners=8)
    assert "field 'limits': warm cannot exceed max_runners (8)" in text
    assert named in text
