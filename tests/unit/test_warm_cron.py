"""Five-field cron in a time zone: parsing, day rules, daylight-saving changes and the 8-day bound."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest

from runner_fleet.warm import cron
from runner_fleet.warm.cron import last_fire_at_or_before, next_fire_after, parse

BERLIN = ZoneInfo("Europe/Berlin")


def _at(year: int, month: int, day: int, hour: int, minute: int, *, tz: tzinfo = BERLIN) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


def _local(ts: float | None, tz: tzinfo = BERLIN) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).strftime("%a %Y-%m-%d %H:%M %Z")


def test_fields_accept_lists_ranges_steps_and_names() -> None:
    """Lists, ranges, steps, `n/step` and month and weekday names expand to the values they name."""
    parsed = parse("0,30 8-18/2 1-7 jan,JUL-sep mon-fri")
    assert parsed.minutes == (0, 30)
    assert parsed.hours == (8, 10, 12, 14, 16, 18)
    assert parsed.months == frozenset({1, 7, 8, 9})
    assert parsed.weekdays == frozenset({1, 2, 3, 4, 5})
    assert parse("5/20 * * * *").minutes == (5, 25, 45)


def test_day_of_week_seven_is_sunday() -> None:
    """Day-of-week 7 and 0 both mean Sunday, also inside a range."""
    assert parse("0 9 * * 7").weekdays == frozenset({0})
    assert parse("0 9 * * 5-7").weekdays == frozenset({5, 6, 0})


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("0 9 * *", "needs 5 fields"),
        ("0 0 9 * * *", "needs 5 fields"),
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day-of-month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day-of-week"),
        ("*/0 * * * *", "step"),
        ("5-1 * * * *", "runs backwards"),
        ("* * * * funday", "not a number or a name"),
        ("-1 * * * *", "minute"),
    ],
)
def test_invalid_expressions_name_the_field(bad: str, says: str) -> None:
    """A wrong expression raises ValueError saying which field is wrong."""
    with pytest.raises(ValueError, match=says):
        parse(bad)


def test_restricted_day_fields_match_either_and_a_starred_one_needs_both() -> None:
    """Both day fields restricted: either may match (Vixie cron); one starting with `*`: both must."""
    either = parse("0 0 13 * fri")
    assert either.matches_day(datetime(2026, 11, 13).date())  # a Friday the 13th
    assert either.matches_day(datetime(2026, 11, 20).date())  # a Friday
    assert either.matches_day(datetime(2026, 10, 13).date())  # a Tuesday the 13th
    both = parse("0 0 */2 * fri")
    assert not both.matches_day(datetime(2026, 11, 20).date())  # Friday, but an even day
    assert both.matches_day(datetime(2026, 11, 27).date())


def test_an_expression_that_skips_years_is_recognised() -> None:
    """31 February never happens and 29 February skips years; the 31st of a month happens every year."""
    assert not parse("0 0 31 2 *").fires_every_year()
    assert not parse("0 0 29 2 *").fires_every_year()
    assert parse("0 0 31 * *").fires_every_year()
    assert parse("0 0 29 2 mon").fires_every_year()  # or any Monday in February


def test_last_and_next_firing_of_a_weekday_schedule() -> None:
    """On a Saturday the last weekday 07:30 was Friday's and the next is Monday's."""
    saturday = _at(2026, 11, 28, 12, 0)
    assert (
        _local(last_fire_at_or_before("30 7 * * 1-5", "Europe/Berlin", saturday))
        == "Fri 2026-11-27 07:30 CET"
    )
    assert _local(next_fire_after("30 7 * * 1-5", "Europe/Berlin", saturday)) == "Mon 2026-11-30 07:30 CET"


def test_the_boundaries_are_at_or_before_and_strictly_after() -> None:
    """A firing at exactly t is the last one at or before t, and not the next one after t."""
    t = _at(2026, 11, 27, 7, 30)
    assert last_fire_at_or_before("30 7 * * *", BERLIN, t) == t
    assert next_fire_after("30 7 * * *", BERLIN, t) == _at(2026, 11, 28, 7, 30)


def test_a_weekly_schedule_is_found_and_a_monthly_one_beyond_eight_days_is_not() -> None:
    """Searches reach 8 days: a weekly firing always, a firing 9 days off never."""
    tuesday = _at(2026, 12, 1, 12, 0)
    assert _local(last_fire_at_or_before("0 9 * * mon", BERLIN, tuesday)) == "Mon 2026-11-30 09:00 CET"
    assert _local(next_fire_after("0 9 * * mon", BERLIN, tuesday)) == "Mon 2026-12-07 09:00 CET"
    assert last_fire_at_or_before("0 9 20 11 *", BERLIN, tuesday) is None
    assert next_fire_after("0 9 10 12 *", BERLIN, tuesday) is None


def test_a_minute_the_spring_change_skips_never_fires() -> None:
    """Berlin skips 02:00-02:59 on 29 March 2026: a 02:30 schedule does not fire that day."""
    assert (
        _local(next_fire_after("30 2 * * *", BERLIN, _at(2026, 3, 28, 12, 0))) == "Mon 2026-03-30 02:30 CEST"
    )
    assert _local(last_fire_at_or_before("30 2 * * *", BERLIN, _at(2026, 3, 29, 23, 0))) == (
        "Sat 2026-03-28 02:30 CET"
    )


def test_a_minute_the_autumn_change_repeats_fires_twice() -> None:
    """Berlin repeats 02:00-02:59 on 25 October 2026: a 02:30 schedule fires at both instants."""
    first = next_fire_after("30 2 * * *", BERLIN, _at(2026, 10, 25, 0, 0))
    assert first is not None
    second = next_fire_after("30 2 * * *", BERLIN, first)
    assert (_local(first), _local(second)) == ("Sun 2026-10-25 02:30 CEST", "Sun 2026-10-25 02:30 CET")
    assert second is not None
    assert second - first == 3600


def test_firings_follow_the_zone_not_utc() -> None:
    """09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer."""
    new_york = ZoneInfo("America/New_York")
    winter = next_fire_after("0 9 * * *", new_york, _at(2026, 1, 10, 0, 0, tz=UTC))
    summer = next_fire_after("0 9 * * *", new_york, _at(2026, 7, 10, 0, 0, tz=UTC))
    assert _local(winter, UTC) == "Sat 2026-01-10 14:00 UTC"
    assert _local(summer, UTC) == "Fri 2026-07-10 13:00 UTC"


def test_firings_stay_in_order_where_the_clock_went_back_across_midnight() -> None:
    """Goose Bay set its clock back from 00:01 to 23:01 the day before (1990): firings stay in time order."""
    goose_bay = ZoneInfo("America/Goose_Bay")
    start = _at(1990, 10, 27, 22, 0, tz=goose_bay)
    hourly = list(cron.firings(parse("30 * * * *"), goose_bay, start, start + 4 * 3600))
    assert hourly == sorted(hourly)
    # 22:30, 23:30, then 23:30 again after the change, 00:30.
    wall = [datetime.fromtimestamp(t, goose_bay).strftime("%H:%M") for t in hourly]
    assert wall == ["22:30", "23:30", "23:30", "00:30"]
    assert last_fire_at_or_before("30 23 * * *", goose_bay, hourly[-1]) == hourly[2]


def test_unknown_zones_are_refused() -> None:
    """A zone name tzdata does not know, or a path, raises ValueError."""
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ValueError, match="not an IANA time zone"):
            cron.zone(bad)
