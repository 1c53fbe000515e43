"""How many runners a pool should have ready, and how many to ask for. Pure: no I/O, no clock.

Runners serve a pool, not a job: any idle runner whose labels fit takes any queued job. So a pool's
wanted count of runners not running a job is the jobs waiting for it plus its warm target, within
`max_runners` together with the busy ones. What already counts towards it ("coming"): runners
booting or online and idle that this round did not judge wrong, provisions in flight (leases), and
pool runners requested but not yet claimed. Missed jobs keep their own provisions (the oldest
`coming` waiting jobs are left to the runners coming); the rest of the gap, up to the warm target,
is asked for as warm pool runners.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from runner_fleet import naming
from runner_fleet.usecases.reconcile.rules import RunnerView


@dataclass(frozen=True)
class RunnerCounts:
    busy: int = 0  # running a job (as the forge or a webhook says), whatever this round judged
    coming: int = 0  # not running a job and not going away: booting, idle, leased or requested
    # Runners online and waiting for a job: what readiness costs (a boot is every job's cold start,
    # paid whether or not the pool keeps runners warm).
    idle_vms: int = 0


def count_runners(
    views: Iterable[RunnerView],
    *,
    judged: Collection[str],
    leases: Collection[str],
    requested: Iterable[tuple[str, str]],
) -> dict[str, RunnerCounts]:
    """Pool name -> its counts. `judged`: runners this round found wrong (they are not coming);
    `leases`: runner names whose provision holds its lease; `requested`: (pool, runner name) of pool
    runners asked for and not claimed yet."""
    busy: dict[str, int] = {}
    coming: dict[str, int] = {}
    idle_vms: dict[str, int] = {}
    seen: set[str] = set()
    for view in views:
        seen.add(view.name)
        pool, vm = view.pool.name, view.vm
        alive = vm is not None and not vm.going_away
        if view.running_job:
            busy[pool] = busy.get(pool, 0) + 1
            continue
        ready = view.lease_active or (alive and view.registration is not None)
        if alive and view.registration is not None and view.registration.status == "online":
            idle_vms[pool] = idle_vms.get(pool, 0) + 1
        if ready and view.name not in judged:
            coming[pool] = coming.get(pool, 0) + 1
    unseen: list[str | None] = [naming.pool_of(name) for name in leases if name not in seen]
    unseen += [pool for pool, name in requested if name not in seen and name not in leases]
    for pool_name in unseen:
        if pool_name is not None:
            coming[pool_name] = coming.get(pool_name, 0) + 1
    pools = set(busy) | set(coming) | set(idle_vms)
    return {
        pool: RunnerCounts(busy.get(pool, 0), coming.get(pool, 0), idle_vms.get(pool, 0)) for pool in pools
    }


@dataclass(frozen=True)
class Upkeep:
    wanted: int  # runners not running a job the pool should have: waiting + target, within capacity
    warm_requests: int  # pool runners to ask for this round


def plan_upkeep(
    *, waiting: int, target: int, busy: int, coming: int, max_runners: int, job_provisions: int
) -> Upkeep:
    """`waiting`: jobs waiting for the pool past the webhook grace; `target`: its warm target now;
    `job_provisions`: provisions for missed jobs on their way from this round (or a recent one)
    and not counted in `coming`."""
    wanted = max(0, min(waiting + max(0, target), max_runners - busy))
    # At most the target: a waiting job that nothing covers yet (its own runner judged wrong this
    # round, say) is the job recovery's once that runner is reaped; a pool runner sent for it now
    # would be a second runner for one job.
    return Upkeep(wanted, min(max(0, target), max(0, wanted - coming - job_provisions)))
