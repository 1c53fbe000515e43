"""NCRONTAB schedules as Azure Functions uses them: `{second} {minute} {hour} {day} {month} {day-of-week}`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = {
    4: {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    5: {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    values: set[int] = set()
    for item in text.lower().split(","):
        step, part = 1, item
        if "/" in item:
            part, step_text = item.split("/", 1)
            step = int(step_text)
            if step < 1:
                raise ValueError(f"bad step in {text!r}")
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _num(a, index), _num(b, index)
        else:
            start = _num(part, index)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise ValueError(f"{text!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _num(text: str, index: int) -> int:
    names = _NAMES.get(index, {})
    return names[text] if text in names else int(text)


@dataclass(frozen=True)
class Schedule:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        parts = expression.split()
        if len(parts) != 6:
            raise ValueError(f"NCRONTAB needs 6 fields (second first), got {expression!r}")
        return cls(*(_field(part, i) for i, part in enumerate(parts)))

    def matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # Python: Monday=0; cron: Sunday=0
        return (
            moment.second in self.seconds
            and moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.day in self.days
            and moment.month in self.months
            and weekday in self.weekdays
        )

    def next_after(self, moment: datetime) -> datetime:
        candidate = moment.replace(microsecond=0) + timedelta(seconds=1)
        # Jump minute by minute when no second of the minute can match, so a yearly schedule is found fast.
        for _ in range(366 * 24 * 60):
            if (
                candidate.minute in self.minutes
                and candidate.hour in self.hours
                and candidate.day in self.days
                and candidate.month in self.months
            ):
                for second in sorted(s for s in self.seconds if s >= candidate.second):
                    hit = candidate.replace(second=second)
                    if self.matches(hit):
                        return hit
            candidate = candidate.replace(second=0) + timedelta(minutes=1)
        raise ValueError("schedule never fires within a year")
