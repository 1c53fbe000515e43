from datetime import UTC, datetime

import pytest

from runner_fleet.host.ncrontab import Schedule


def test_every_minute_fires_at_second_zero() -> None:
    """`0 */1 * * * *` fires at the start of every minute."""
    schedule = Schedule.parse("0 */1 * * * *")
    assert schedule.next_after(datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)) == datetime(
        2026, 1, 1, 10, 1, tzinfo=UTC
    )
    assert schedule.next_after(datetime(2026, 1, 1, 10, 0, 59, 500, tzinfo=UTC)) == datetime(
        2026, 1, 1, 10, 1, tzinfo=UTC
    )


def test_seconds_steps() -> None:
    """`*/15 * * * * *` fires every fifteen seconds."""
    schedule = Schedule.parse("*/15 * * * * *")
    assert schedule.next_after(datetime(2026, 1, 1, 0, 0, 16, tzinfo=UTC)).second == 30


def test_hourly_at_a_minute() -> None:
    """`0 17 * * * *` fires at minute 17 of each hour."""
    schedule = Schedule.parse("0 17 * * * *")
    assert schedule.next_after(datetime(2026, 1, 1, 9, 20, tzinfo=UTC)) == datetime(
        2026, 1, 1, 10, 17, tzinfo=UTC
    )


def test_weekday_names_and_sunday_zero() -> None:
    """Day-of-week counts from Sunday=0 and accepts names."""
    monday_9am = Schedule.parse("0 0 9 * * mon")
    assert monday_9am.next_after(datetime(2026, 11, 22, tzinfo=UTC)) == datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert Schedule.parse("0 0 9 * * 0").next_after(datetime(2026, 11, 20, tzinfo=UTC)).weekday() == 6


@pytest.mark.parametrize("bad", ["* * * * *", "61 * * * * *", "*/0 * * * * *", "0 0 25 * * *", "a b c d e f"])
def test_invalid_expressions_are_refused(bad: str) -> None:
    """Five fields, out-of-range values, zero steps and garbage raise ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by mistake
        Schedule.parse(bad)
