"""The warm target in force for a pool at a given moment. Pure: no I/O, no clock of its own.

A schedule window is in force at t when its latest `start` firing at or before t is later than its
latest `end` firing at or before t (KEDA's cron scaler reads start and end the same way); firings
more than 8 days back are forgotten, so a window lasts at most 8 days. Of the windows in force, the
largest `warm` wins; with none, `otherwise`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from runner_fleet.settings.pool import Pool, WarmSchedule, WarmWindow
from runner_fleet.warm import cron
from runner_fleet.warm.auto import Demand, auto_target

WarmMode = Literal["static", "schedule", "auto"]


@dataclass(frozen=True)
class WarmNow:
    target: int
    mode: WarmMode
    reason: str = ""
    # Schedules only: when the target next changes (epoch seconds) and to what; None when it stays
    # the same for the next 8 days.
    next_change_at: float | None = None
    next_target: int | None = None


def warm_now(pool: Pool, now: float, demand: Demand | None = None) -> WarmNow:
    """The pool's warm target at `now` (epoch seconds); `demand` matters only to an adaptive pool."""
    limits = pool.limits
    if (schedule := limits.warm_schedule) is not None:
        return _scheduled(schedule, now)
    if (auto := limits.warm_auto) is not None:
        decided = auto_target(auto, demand)
        return WarmNow(decided.target, "auto", decided.reason)
    static = limits.static_warm or 0
    return WarmNow(static, "static", f"static {static}")


def pool_warm_ceiling(pool: Pool) -> int:
    """The most warm runners the pool's setting can ever ask for."""
    limits = pool.limits
    if (schedule := limits.warm_schedule) is not None:
        return schedule.ceiling
    if (auto := limits.warm_auto) is not None:
        return auto.max
    return limits.static_warm or 0


@dataclass
class _Window:
    """One window's state while the schedule is followed forward in time."""

    setting: WarmWindow
    zone: ZoneInfo
    last_start: float | None
    last_end: float | None
    starts: Iterator[float] = field(repr=False)
    ends: Iterator[float] = field(repr=False)

    @property
    def in_force(self) -> bool:
        return self.last_start is not None and (self.last_end is None or self.last_start > self.last_end)


def _scheduled(schedule: WarmSchedule, now: float) -> WarmNow:
    horizon = now + cron.SEARCH_SPAN_S
    windows = [_window(setting, now, horizon) for setting in schedule.schedule]
    target, reason = _target(schedule, windows)
    # Follow the firings forward, soonest first, until the target differs.
    events: list[tuple[float, int, str]] = []
    for index, window in enumerate(windows):
        _push(events, window.starts, index, "start")
        _push(events, window.ends, index, "end")
        if window.in_force and window.last_start is not None:
            # The start is forgotten once it is more than 8 days old.
            events.append((window.last_start + cron.SEARCH_SPAN_S, index, "expire"))
    heapq.heapify(events)
    while events:
        at = events[0][0]
        while events and events[0][0] == at:
            _, index, kind = heapq.heappop(events)
            window = windows[index]
            if kind == "start":
                window.last_start = at
                _push(events, window.starts, index, "start")
                heapq.heappush(events, (at + cron.SEARCH_SPAN_S, index, "expire"))
            elif kind == "end":
                window.last_end = at
                _push(events, window.ends, index, "end")
            elif window.last_start is not None and window.last_start + cron.SEARCH_SPAN_S == at:
                window.last_start = None
        if at > horizon:
            break
        upcoming, _ = _target(schedule, windows)
        if upcoming != target:
            return WarmNow(target, "schedule", reason, next_change_at=at, next_target=upcoming)
    return WarmNow(target, "schedule", reason)


def _window(setting: WarmWindow, now: float, horizon: float) -> _Window:
    zone = cron.zone(setting.timezone)
    start, end = cron.parse(setting.start), cron.parse(setting.end)
    return _Window(
        setting,
        zone,
        last_start=cron.last_fire_at_or_before(start, zone, now),
        last_end=cron.last_fire_at_or_before(end, zone, now),
        starts=cron.firings(start, zone, now, horizon),
        ends=cron.firings(end, zone, now, horizon),
    )


def _push(events: list[tuple[float, int, str]], firings: Iterator[float], index: int, kind: str) -> None:
    upcoming = next(firings, None)
    if upcoming is not None:
        heapq.heappush(events, (upcoming, index, kind))


def _target(schedule: WarmSchedule, windows: list[_Window]) -> tuple[int, str]:
    in_force = [w for w in windows if w.in_force]
    if not in_force:
        return schedule.otherwise, f"no window in force: otherwise {schedule.otherwise}"
    best = max(in_force, key=lambda w: w.setting.warm)
    return best.setting.warm, f"window {best.setting.describe()}"
