"""Five-field cron (`minute hour day-of-month month day-of-week`) evaluated in an IANA time zone.

Fields take `*`, numbers, lists, ranges and steps (`*/15`, `1-5`, `8-18/2`, `5/10`), month and weekday
names (`jan`, `mon`); day-of-week 0 and 7 are Sunday. As in Vixie cron (and the Go cron library KEDA
uses), when both day fields are restricted a day matches either of them; when one starts with `*`,
both must match.

Times are epoch seconds; an expression fires at every instant whose wall-clock minute in its zone
matches. So a minute that the spring clock change skips never fires, and a minute the autumn change
repeats fires at both of its instants (a window starting at 02:30 that night starts twice; one
ending at 02:30 ends twice, which changes nothing the second time). Searches look at most
`SEARCH_SPAN_S` (8 days) away, so a weekly expression is always found.

Why not `runner_fleet.host.ncrontab`: that parser serves Azure's six-field timer syntax, where both
day fields must always match and day-of-week 7 does not exist; sharing its field parser would change
what an Azure timer schedule means.
"""

from __future__ import annotations

import calendar
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SEARCH_SPAN_S = 8 * 86400.0
_DAY = timedelta(days=1)

_MONTHS = {name: i + 1 for i, name in enumerate(calendar.month_abbr[1:])}
_WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# (name, lowest, highest, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {k.lower(): v for k, v in _MONTHS.items()}),
    ("day-of-week", 0, 7, _WEEKDAYS),
)


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # Sunday = 0
    # Whether both day fields must match (one of them starts with `*`) or either.
    days_and: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.weekday() + 1) % 7 in self.weekdays
        return (in_month and in_week) if self.days_and else (in_month or in_week)

    def fires_every_year(self) -> bool:
        """Whether some day of every calendar year matches (29 February alone, or 31 April, do not)."""
        return all(any(self.matches_day(day) for day in _days_of(year)) for year in _CALENDAR_YEARS)


def parse(expression: str) -> Cron:
    """Parse a five-field expression; ValueError names the field that is wrong."""
    return _parse(" ".join(expression.split()).lower())


@lru_cache(maxsize=256)
def _parse(expression: str) -> Cron:
    parts = expression.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(
            f"{expression!r} needs 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    values = [_field(text, *spec) for text, spec in zip(parts, _FIELDS, strict=True)]
    minutes, hours, days, months, weekdays = values
    return Cron(
        expression=expression,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(d % 7 for d in weekdays),
        days_and=parts[2].startswith("*") or parts[4].startswith("*"),
    )


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        part, slash, step_text = item.partition("/")
        step = _number(step_text, name, {}) if slash else 1
        if step < 1:
            raise ValueError(f"{name} {text!r}: a step must be at least 1")
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, _, last = part.partition("-")
            start, end = _number(first, name, names), _number(last, name, names)
        else:
            start = _number(part, name, names)
            end = high if slash else start
        if not (low <= start <= end <= high):
            raise ValueError(f"{name} {text!r} is outside {low}-{high} or runs backwards")
        values.update(range(start, end + 1, step))
    return values


def _number(text: str, field: str, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise ValueError(f"{field}: {text!r} is not a number" + (" or a name" if names else ""))
    return int(text)


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError if there is none (also for paths and other non-names)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from None


def last_fire_at_or_before(expr: str | Cron, tz: str | ZoneInfo, t: float) -> float | None:
    """The latest firing at or before `t`, if one lies within the last 8 days (less than 8 days ago)."""
    return next(_firings(_cron(expr), _zone(tz), t, t - SEARCH_SPAN_S), None)


def next_fire_after(expr: str | Cron, tz: str | ZoneInfo, t: float) -> float | None:
    """The first firing after `t`, if one lies within the next 8 days."""
    return next(_firings(_cron(expr), _zone(tz), t, t + SEARCH_SPAN_S), None)


def firings(cron: Cron, tz: ZoneInfo, t: float, until: float) -> Iterator[float]:
    """Firings from `t` towards `until`, nearest first: after `t` up to and including `until` when
    `until` is later, else at or before `t` and after `until`."""
    return _firings(cron, tz, t, until)


def _firings(cron: Cron, tz: ZoneInfo, t: float, until: float) -> Iterator[float]:
    forward = until > t
    # Negated when going back, so that the heap always pops the nearest firing first.
    sign = 1 if forward else -1
    # One date either side: after the wall clock went back across midnight, the instants just
    # after `t` may belong to the previous date (America/Goose_Bay did that until 2011).
    day = datetime.fromtimestamp(t, tz).date() - _DAY * sign
    last_day = datetime.fromtimestamp(until, tz).date() + _DAY * sign
    heap: list[float] = []
    while True:
        if cron.matches_day(day):
            for instant in _instants_of(cron, tz, day):
                if (t < instant <= until) if forward else (until < instant <= t):
                    heapq.heappush(heap, sign * instant)
        # Firings still held are yielded once no date yet to come can hold a nearer one. A date
        # normally spans its own 24 hours; the bound also holds when a clock change moves the wall
        # clock back across midnight, so that a date's instants interleave with the next one's.
        if forward:
            bound = min(_midnight(day + _DAY, tz))
            while heap and heap[0] < bound:
                yield heapq.heappop(heap)
        else:
            bound = max(_midnight(day, tz))
            while heap and -heap[0] >= bound:
                yield -heapq.heappop(heap)
        if day == last_day:
            break
        day += _DAY * sign
    while heap:
        yield sign * heapq.heappop(heap)


def _instants_of(cron: Cron, tz: ZoneInfo, day: date) -> list[float]:
    """Every instant on `day` (a wall-clock date in `tz`) at which `cron` fires."""
    begins, begins_after_change = _midnight(day, tz)
    ends, ends_after_change = _midnight(day + _DAY, tz)
    if begins == begins_after_change and ends == ends_after_change and ends - begins == 86400:
        # No clock change today: wall-clock minutes are evenly spaced from midnight.
        return [begins + hour * 3600 + minute * 60 for hour in cron.hours for minute in cron.minutes]
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    instants: list[float] = []
    for hour in cron.hours:
        for minute in cron.minutes:
            wall = start.replace(hour=hour, minute=minute)
            first, second = wall.timestamp(), wall.replace(fold=1).timestamp()
            # PEP 495: fold=0 reads the wall time with the offset before the change, fold=1 after.
            # Equal: the minute happens once. fold=0 earlier: it repeats (autumn), both instants
            # fire. fold=0 later: it falls in the spring gap and never happens.
            if first == second:
                instants.append(first)
            elif first < second:
                instants.extend((first, second))
    return instants


def _midnight(day: date, tz: ZoneInfo) -> tuple[float, float]:
    """The instants `day` begins at in `tz`: its midnight read with the offsets before and after any
    clock change there (the same instant twice on an ordinary day)."""
    wall = datetime(day.year, day.month, day.day, tzinfo=tz)
    return wall.timestamp(), wall.replace(fold=1).timestamp()


def _days_of(year: int) -> Iterator[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += _DAY


def _calendar_years() -> tuple[int, ...]:
    """One year of each of the 14 calendars (the weekday of 1 January, leap or not)."""
    found: dict[tuple[int, bool], int] = {}
    for year in range(2001, 2030):
        found.setdefault((date(year, 1, 1).weekday(), calendar.isleap(year)), year)
    return tuple(sorted(found.values()))


_CALENDAR_YEARS = _calendar_years()


def _cron(expr: str | Cron) -> Cron:
    return expr if isinstance(expr, Cron) else parse(expr)


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else zone(tz)
