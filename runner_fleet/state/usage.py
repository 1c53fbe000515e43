"""What each runner VM used: one usage row per VM that went away, and the job starts they are made from.

Partitions of the state table (`runner_fleet/state/store.py` lists them all):

- `usage-<YYYYMMDD>` (the UTC day the VM was released): one row per runner VM gone. Key: the runner
  name (a second VM of the same name, made again for a reopened job, is keyed `<name>@<created_at>`);
  fields `pool`, `forge`, `job` (the job it ran; empty for a runner that ran none), `size`, `spot`,
  `location`, `queued_at` (its job queued), `started_at` (its job running), `created_at` (the VM's
  create request), `released_at`, `vm_seconds` (created -> released), `busy_seconds` (running ->
  released), `wait_s` (queued -> running), `cost`, `currency`, `price_per_hour`, `price_source`
  (admin, shipped, unknown) and `ended_by` (release, or reconcile: the reconciler deleted it). Times are
  epoch seconds; what is not known is left out (read back as None). Written once per VM: by the
  release of its job, or by the reconciler when it deletes a VM (a warm runner retired, a VM that never
  came up); a repeated release finds the row (today's or yesterday's) and writes nothing.
  Read by `runner-fleet report` and `status` (`since`). Purged by housekeeping (`purge`) a whole day
  at a time once the day is `USAGE_RETENTION` (35 days) old; the `usage-purged` row (key `through`,
  field `day`) remembers the last day purged, so each day's partition is read once by the purge.
- `usage-start-<forge>`: when a runner's job started. Key: runner name; `job`, `at` (the forge's start
  time, as its hook said, else when we heard of it), `queued_at` (the forge's queued time, as its hook
  said, else the job's claim, if its provision claimed it). Written when a job starts on one of our runners
  (`RunnerStarted` / GitLab's `running`), read and deleted when the VM's usage row is written; rows
  left by runners never released go after `START_RETENTION` (7 days, longer than any runner lives).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import unquote

from runner_fleet.forges import FORGES, Forge
from runner_fleet.state.errors import AlreadyExists, PreconditionFailed
from runner_fleet.state.table import Data, Record, StateTable, encode_key, number

USAGE_RETENTION = timedelta(days=35)
START_RETENTION = timedelta(days=7)
USAGE_PREFIX = "usage-"
PURGED = "usage-purged"
# The first purge (no `usage-purged` row yet) looks back this many days before the retention.
FIRST_PURGE_DAYS = 60
_DAY = 86400.0
# Times and durations, kept to the millisecond; prices and costs are kept as they are.
_TIMES = frozenset(
    {"created_at", "released_at", "queued_at", "started_at", "vm_seconds", "busy_seconds", "wait_s"}
)

EndedBy = Literal["release", "reconcile"]


def day_partition(at: float) -> str:
    return USAGE_PREFIX + datetime.fromtimestamp(at, UTC).strftime("%Y%m%d")


def _start_partition(forge: Forge) -> str:
    return f"usage-start-{forge}"


@dataclass(frozen=True)
class Usage:
    """One runner VM, from its create request to its release, and what that cost."""

    runner: str
    pool: str
    forge: str
    job: str
    size: str
    spot: bool
    location: str
    created_at: float
    released_at: float
    queued_at: float | None = None
    started_at: float | None = None
    cost: float | None = None
    currency: str | None = None
    price_per_hour: float | None = None
    price_source: str = "unknown"
    ended_by: str = "release"

    @property
    def vm_seconds(self) -> float:
        return max(self.released_at - self.created_at, 0.0)

    @property
    def busy_seconds(self) -> float | None:
        """Job running -> released, within the VM's life; None when the start is not known."""
        if self.started_at is None:
            return None
        return min(max(self.released_at - self.started_at, 0.0), self.vm_seconds)

    @property
    def wait_s(self) -> float | None:
        """Job queued -> running; None unless both are known."""
        if self.started_at is None or self.queued_at is None:
            return None
        return max(self.started_at - self.queued_at, 0.0)

    def as_dict(self) -> dict[str, Any]:
        """Every field, the derived ones included, rounded for reading (the JSON and the table row)."""
        data = asdict(self)
        data |= {"vm_seconds": self.vm_seconds, "busy_seconds": self.busy_seconds, "wait_s": self.wait_s}
        return {k: round(v, 3) if k in _TIMES and isinstance(v, float) else v for k, v in data.items()}

    def as_data(self) -> Data:
        return dict(self.as_dict())

    @classmethod
    def from_record(cls, record: Record) -> Usage:
        data = record.data
        return cls(
            runner=str(data.get("runner") or record.key),
            pool=str(data.get("pool") or ""),
            forge=str(data.get("forge") or ""),
            job=str(data.get("job") or ""),
            size=str(data.get("size") or ""),
            spot=bool(data.get("spot")),
            location=str(data.get("location") or ""),
            created_at=number(data.get("created_at")) or 0.0,
            released_at=number(data.get("released_at")) or 0.0,
            queued_at=number(data.get("queued_at")),
            started_at=number(data.get("started_at")),
            cost=number(data.get("cost")),
            currency=str(data["currency"]) if data.get("currency") else None,
            price_per_hour=number(data.get("price_per_hour")),
            price_source=str(data.get("price_source") or "unknown"),
            ended_by=str(data.get("ended_by") or "release"),
        )


@dataclass(frozen=True)
class JobStart:
    """A job started on one of our runners."""

    forge: str
    runner: str
    job: str
    at: float
    queued_at: float | None = None

    @property
    def wait_s(self) -> float | None:
        return None if self.queued_at is None else max(self.at - self.queued_at, 0.0)


class UsageLog:
    def __init__(self, table: StateTable, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    # -- usage rows -----------------------------------------------------------------------------
    async def record(self, usage: Usage) -> bool:
        """Write `usage` once: False (nothing written) when a row for this VM is there already."""
        partitions = (day_partition(usage.released_at), day_partition(usage.released_at - _DAY))
        keys = (encode_key(usage.runner), encode_key(f"{usage.runner}@{usage.created_at:.0f}"))
        for key in keys:
            for partition in partitions:
                found = await self._table.get(partition, key)
                if found is not None and _same_vm(found.data, usage):
                    return False
            try:
                await self._table.insert(partitions[0], key, usage.as_data())
            except AlreadyExists:
                found = await self._table.get(partitions[0], key)
                if found is not None and _same_vm(found.data, usage):
                    return False  # a concurrent release of the same VM wrote it first
                continue  # another VM of this name: its own key
            return True
        return False  # both keys hold other VMs of this name and time: nothing sensible left to write

    async def since(self, start: float, until: float | None = None) -> list[Usage]:
        """The VMs released at or after `start` (and before `until`), oldest release first."""
        end = max(self._clock(), start) if until is None else until
        rows: list[Usage] = []
        day = math.floor(start / _DAY)
        while day * _DAY <= end:
            for record in await self._table.query(day_partition(day * _DAY)):
                usage = Usage.from_record(record)
                if start <= usage.released_at and (until is None or usage.released_at < until):
                    rows.append(usage)
            day += 1
        return sorted(rows, key=lambda u: (u.released_at, u.runner))

    # -- job starts -----------------------------------------------------------------------------
    async def note_start(
        self, forge: Forge, runner: str, job: str, *, at: float, queued_at: float | None = None
    ) -> None:
        """Job `job` started on `runner` at `at`; a repeated note of the same start keeps the first."""
        data: Data = {"job": job, "at": at, "queued_at": queued_at}
        try:
            await self._table.insert(_start_partition(forge), encode_key(runner), data)
        except AlreadyExists:
            found = await self._table.get(_start_partition(forge), encode_key(runner))
            if found is None or str(found.data.get("job")) != job:
                await self._table.upsert(_start_partition(forge), encode_key(runner), data)

    async def start_of(self, forge: Forge, runner: str) -> JobStart | None:
        record = await self._table.get(_start_partition(forge), encode_key(runner))
        return None if record is None else _start(forge, record)

    async def forget_start(self, forge: Forge, runner: str) -> None:
        await self._table.delete(_start_partition(forge), encode_key(runner))

    async def starts_since(self, start: float) -> list[JobStart]:
        """Jobs that started at or after `start` on runners not released yet, oldest first."""
        found = [
            _start(forge, record)
            for forge in FORGES
            for record in await self._table.query(_start_partition(forge))
        ]
        return sorted((s for s in found if s.at >= start), key=lambda s: (s.at, s.runner))

    # -- housekeeping ---------------------------------------------------------------------------
    async def purge(
        self, older_than: timedelta = USAGE_RETENTION, starts_older_than: timedelta = START_RETENTION
    ) -> int:
        """Delete the usage days older than `older_than` and the job starts older than
        `starts_older_than`; returns how many rows went."""
        now = self._clock()
        removed = 0
        last_day = math.floor((now - older_than.total_seconds()) / _DAY) - 1  # the newest day to go
        marker = await self._table.get(PURGED, "through")
        done = number(marker.data.get("day")) if marker is not None else None
        first_day = int(done) + 1 if done is not None else last_day - FIRST_PURGE_DAYS
        for day in range(first_day, last_day + 1):
            for record in await self._table.query(day_partition(day * _DAY)):
                if await self._table.delete(record.partition, record.key):
                    removed += 1
        if done is None or last_day > done:
            await self._table.upsert(PURGED, "through", {"day": last_day})
        cutoff = now - starts_older_than.total_seconds()
        for forge in FORGES:
            for record in await self._table.query(_start_partition(forge)):
                if (number(record.data.get("at")) or 0.0) < cutoff:
                    try:
                        if await self._table.delete(record.partition, record.key, etag=record.etag):
                            removed += 1
                    except PreconditionFailed:
                        continue  # noted again meanwhile
        return removed


def _same_vm(data: Mapping[str, object], usage: Usage) -> bool:
    """The row is about this very VM: its creation time, to the second."""
    created = number(data.get("created_at"))
    return created is not None and abs(created - usage.created_at) < 1.0


def _start(forge: str, record: Record) -> JobStart:
    return JobStart(
        forge=forge,
        runner=unquote(record.key),
        job=str(record.data.get("job") or ""),
        at=number(record.data.get("at")) or 0.0,
        queued_at=number(record.data.get("queued_at")),
    )
