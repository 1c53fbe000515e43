"""What adaptive warm pools are sized from: job arrivals, cold starts and idle VM time, per pool.

Two partitions of the state table, both purged after `DEMAND_RETENTION` (2 days) by `purge`
(housekeeping), by the `at` each row carries:

- `warm-arrival`: one row per job counted, key `<pool>|<job key>`; `pool`, `at`. Its insert is what
  makes counting a job idempotent: a retried message finds the row and counts nothing.
- `warm-demand`: counters, key `<pool>|<kind>|...`, each with `pool` and `at`:
  `<pool>|arrivals|<UTC hour>` (`m00`..`m59`: jobs queued in each minute of the hour; `at` the
  hour's start), `<pool>|idle|<UTC day>` (`vm_s`: idle runner seconds that day; `at` the day's
  start) and `<pool>|cold` (`samples`: the last cold starts as `at:seconds,...`; `at` the latest).
  A snapshot reads at most 25 hour rows (a window is at most a day), one idle row and one cold row.

Counters change by a read and a replace conditional on the ETag read, retried when another writer
came first, so concurrent writers never lose an increment.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from runner_fleet.percentile import percentile
from runner_fleet.settings.pool import WarmAuto
from runner_fleet.state.errors import AlreadyExists, NotFound, PreconditionFailed
from runner_fleet.state.table import Data, Record, StateTable, encode_key
from runner_fleet.warm.auto import Demand

ARRIVALS = "warm-arrival"
COUNTERS = "warm-demand"
# Long enough for a day-long arrival window and today's idle total, short enough to stay small.
DEMAND_RETENTION = timedelta(days=2)
DEFAULT_WINDOW_S = 900.0
# Cold starts whose median is taken: enough to ride out one slow create, few enough to follow change.
COLD_SAMPLES = 21
# A burst of webhooks for one pool contends for one hour row; each failed attempt means another
# writer succeeded, so this many writers can land at once before one gives up.
_ATTEMPTS = 100


class DemandLog:
    def __init__(self, table: StateTable, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    async def note_arrival(self, pool: str, job_key: str, at: float) -> None:
        """A job was queued for `pool` at `at`; a job already counted is not counted again."""
        guard = encode_key(f"{pool}|{job_key}")
        try:
            await self._table.insert(ARRIVALS, guard, {"pool": pool, "at": at})
        except AlreadyExists:
            return
        hour = math.floor(at / 3600) * 3600
        minute = f"m{int(at - hour) // 60:02d}"

        def count(data: Data) -> Data:
            return {**data, "pool": pool, "at": hour, minute: _int(data.get(minute)) + 1}

        try:
            await self._update(_key(pool, "arrivals", _hour_label(hour)), count)
        except Exception:
            # Not counted: let the message's retry count it.
            await self._table.delete(ARRIVALS, guard)
            raise

    async def note_cold_start(self, pool: str, seconds: float, at: float) -> None:
        """A runner of `pool` came online `seconds` after its VM create was requested."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"a cold start of {seconds!r} s cannot be right")

        def add(data: Data) -> Data:
            samples = [*_samples(data), (at, seconds)]
            samples = sorted(samples)[-COLD_SAMPLES:]
            text = ",".join(f"{when:.0f}:{took:.1f}" for when, took in samples)
            return {"pool": pool, "at": max(when for when, _ in samples), "samples": text}

        await self._update(_key(pool, "cold"), add)

    async def add_idle(self, pool: str, vm_seconds: float, at: float) -> None:
        """`vm_seconds` of idle runner time of `pool`, counted on the UTC day of `at`."""
        if not (math.isfinite(vm_seconds) and vm_seconds >= 0):
            raise ValueError(f"{vm_seconds!r} idle VM seconds cannot be right")
        day = math.floor(at / 86400) * 86400

        def add(data: Data) -> Data:
            return {"pool": pool, "at": day, "vm_s": _float(data.get("vm_s")) + vm_seconds}

        await self._update(_key(pool, "idle", _day_label(day)), add)

    async def snapshot(self, pool: str, auto: WarmAuto | None, now: float) -> Demand:
        """The pool's demand as of `now`, over `auto.window_s` (15 minutes without settings)."""
        window_s = auto.window_s if auto is not None else DEFAULT_WINDOW_S
        # Whole minutes: those that began within the window, the current one included.
        last = math.floor(now / 60)
        first = math.floor((now - window_s) / 60) + 1
        hours = sorted({minute // 60 for minute in range(first, last + 1)})
        day = math.floor(now / 86400) * 86400
        rows = await asyncio.gather(
            *(self._table.get(COUNTERS, _key(pool, "arrivals", _hour_label(h * 3600))) for h in hours),
            self._table.get(COUNTERS, _key(pool, "idle", _day_label(day))),
            self._table.get(COUNTERS, _key(pool, "cold")),
        )
        *hour_rows, idle_row, cold_row = rows
        per_minute: list[int] = []
        for h, row in zip(hours, hour_rows, strict=True):
            if row is None:
                continue
            for minute in range(max(first, h * 60), min(last, h * 60 + 59) + 1):
                count = _int(row.data.get(f"m{minute - h * 60:02d}"))
                if count > 0:
                    per_minute.append(count)
        cold = [took for _, took in _samples(cold_row.data)] if cold_row is not None else []
        return Demand(
            arrivals=sum(per_minute),
            window_s=window_s,
            cold_start_s=statistics.median(cold) if cold else None,
            idle_vm_s_today=_float(idle_row.data.get("vm_s")) if idle_row is not None else 0.0,
            burst_p90=percentile(per_minute, 0.9) or 0,
        )

    async def purge(self, older_than: timedelta) -> int:
        """Delete rows whose `at` is more than `older_than` ago; returns how many went."""
        cutoff = self._clock() - older_than.total_seconds()
        removed = 0
        for partition in (ARRIVALS, COUNTERS):
            for record in await self._table.query(partition):
                if _float(record.data.get("at"), default=record.updated_at.timestamp()) >= cutoff:
                    continue
                try:
                    # Conditional: a counter written meanwhile stays.
                    if await self._table.delete(partition, record.key, etag=record.etag):
                        removed += 1
                except PreconditionFailed:
                    continue
        return removed

    async def _update(self, key: str, change: Callable[[Data], Data]) -> Record:
        for _ in range(_ATTEMPTS):
            existing = await self._table.get(COUNTERS, key)
            try:
                if existing is None:
                    return await self._table.insert(COUNTERS, key, change({}))
                return await self._table.replace(existing, change(dict(existing.data)))
            except (AlreadyExists, PreconditionFailed, NotFound):
                continue  # another writer came first: apply the change to what it wrote
        raise PreconditionFailed(f"demand counter {key!r} kept changing under us")


def _key(pool: str, *parts: str) -> str:
    return encode_key("|".join((pool, *parts)))


def _hour_label(hour: float) -> str:
    return datetime.fromtimestamp(hour, UTC).strftime("%Y-%m-%dT%H")


def _day_label(day: float) -> str:
    return datetime.fromtimestamp(day, UTC).strftime("%Y-%m-%d")


def _samples(data: Data) -> list[tuple[float, float]]:
    text = data.get("samples")
    if not isinstance(text, str) or not text:
        return []
    samples = []
    for item in text.split(","):
        when, _, took = item.partition(":")
        samples.append((float(when), float(took)))
    return samples


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _float(value: object, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
