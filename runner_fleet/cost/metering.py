"""The usage of a runner VM that goes away, priced and written once: what `release` and the reconciler call.

A VM's life runs from its create request (the `created-at` tag written with the PUT; Azure's own
`timeCreated` where the tag is missing) to its release (now). Its job's start and queued time come
from the start noted when the job began (`UsageLog.note_start`), else the job's claim (queued only).
The cost is the VM time times the hourly price of its size in the pool's region, spot or on demand
as Azure says the VM is (`PriceBook`); without a price there is no cost, never a guessed one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runner_fleet.cost.prices import PriceBook
from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger
from runner_fleet.ports.compute import TAG_CREATED_AT, VmInfo, tag_time
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.state.table import number
from runner_fleet.state.usage import EndedBy, Usage, UsageLog
from runner_fleet.telemetry import metrics

log = get_logger("metering")


def vm_created_at(vm: VmInfo) -> float | None:
    """When the VM's create was requested: its `created-at` tag, else Azure's creation time."""
    tagged = tag_time(vm.tags.get(TAG_CREATED_AT))
    if tagged is not None:
        return tagged
    return vm.created_at.timestamp() if vm.created_at is not None else None


@dataclass(frozen=True)
class Metering:
    state: FleetState
    prices: PriceBook = field(default_factory=PriceBook)
    now: Callable[[], float] = time.time

    @property
    def log(self) -> UsageLog:
        return UsageLog(self.state.table, clock=self.now)

    async def deleted(
        self,
        pool: Pool,
        forge: Forge,
        vm: VmInfo,
        ctx: Mapping[str, object],
        *,
        job: str = "",
        ended_by: EndedBy = "release",
    ) -> Usage | None:
        """`vm_gone` for a VM its caller has deleted, into the metrics too. A usage row that cannot be
        written is a gap in the report, logged with `ctx`, never a reason to leave the rest undone."""
        try:
            usage = await self.vm_gone(pool, forge, vm, job=job, ended_by=ended_by)
        except Exception as exc:
            log.warning("usage.not_recorded", **ctx, error=type(exc).__name__)
            return None
        metrics.vm_used(usage)
        return usage

    async def vm_gone(
        self, pool: Pool, forge: Forge, vm: VmInfo, *, job: str = "", ended_by: EndedBy = "release"
    ) -> Usage | None:
        """Write the usage of `vm`, just deleted; the usage, or None if it was written before (a
        repeated release) or the VM's creation time cannot be known."""
        created_at = vm_created_at(vm)
        if created_at is None:
            return None
        usage_log = self.log
        noted = await usage_log.start_of(forge, vm.name)
        # A start noted for another job than the one released is not this VM's job's.
        start = noted if noted is not None and (not job or noted.job == job) else None
        queued_at = start.queued_at if start is not None else None
        if queued_at is None and job:
            record = await self.state.job(forge, job)
            queued_at = number(record.data.get("queued_at")) if record is not None else None
        spot = (vm.priority or "").lower() == "spot"
        price = self.prices.hourly(vm.size, pool.azure.location, spot=spot)
        # To the millisecond, as the row keeps them: the usage returned is the usage stored.
        released_at = round(self.now(), 3)
        created_at = round(created_at, 3)
        usage = Usage(
            runner=vm.name,
            pool=pool.name,
            forge=forge,
            job=job or (start.job if start is not None else ""),
            size=vm.size,
            spot=spot,
            location=pool.azure.location,
            created_at=created_at,
            released_at=released_at,
            queued_at=round(queued_at, 3) if queued_at is not None else None,
            started_at=round(start.at, 3) if start is not None else None,
            price_per_hour=price.per_hour,
            currency=price.currency,
            price_source=price.source,
            ended_by=ended_by,
            cost=price.cost(released_at - created_at),
        )
        written = await usage_log.record(usage)
        if noted is not None:
            await usage_log.forget_start(forge, vm.name)  # its VM is gone: nothing will read it again
        return usage if written else None
