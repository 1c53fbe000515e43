"""What a reconcile round tells the metrics: runners by state, the warm figures, queue depths, the
jobs that waited while their pool had room, and a short code for each action's reason.

Pure except `report_round`, which reads the queues' depths. `runner_states` runs every round (the
reconcile report and `runner-fleet status` use it); the rest only while telemetry is on.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from runner_fleet import naming
from runner_fleet.ports.feeds import WaitingJob
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE, WorkQueue
from runner_fleet.telemetry import metrics
from runner_fleet.telemetry.metrics import RunnerState
from runner_fleet.usecases.reconcile.rules import RunnerView
from runner_fleet.usecases.reconcile.warm_upkeep import RunnerCounts

# A job waiting longer than this while its pool had room counts once in `jobs.waited_with_capacity`.
WAITED_WITH_CAPACITY_S = 120.0


def runner_state(view: RunnerView, judged: Collection[str]) -> RunnerState:
    """One runner's state: retiring (judged wrong this round, or its VM going away), busy, creating
    (its VM not built yet), idle (online, no job) or booting (built, not online yet)."""
    vm = view.vm
    if view.name in judged or (vm is not None and vm.going_away):
        return "retiring"
    if view.running_job:
        return "busy"
    if vm is None or vm.provisioning_state != "Succeeded":
        return "creating"
    return "idle" if view.idle else "booting"


def runner_states(
    views: Iterable[RunnerView], *, judged: Collection[str], leases: Collection[str]
) -> dict[str, dict[str, int]]:
    """Pool name -> state -> runners; a provision in flight whose VM is not listed yet is creating."""
    states: dict[str, dict[str, int]] = {}
    seen: set[str] = set()
    for view in views:
        seen.add(view.name)
        pool = states.setdefault(view.pool.name, {})
        state = runner_state(view, judged)
        pool[state] = pool.get(state, 0) + 1
    for name in leases:
        pool_name = naming.pool_of(name)
        if name not in seen and pool_name is not None:
            pool = states.setdefault(pool_name, {})
            pool["creating"] = pool.get("creating", 0) + 1
    return states


# The rules' reasons (rules.py) and the probe reaper's, as codes: the reasons carry numbers.
_REASONS = (
    ("runner registration without a VM", "registration-without-vm"),
    ("VM failed to provision", "vm-failed"),
    ("runner exited", "runner-exited"),
    ("runner never came online", "boot-timeout"),
    ("past the pool's max lifetime", "max-lifetime"),
    ("idle for more than", "idle-timeout"),
    ("its job started", "job-started"),
    ("runner registration is gone", "registration-gone"),
    ("probe VM past its expires-at", "probe-expired"),
)
_WARM_DROP = re.compile(r"beyond the warm target")


def reason_code(reason: str) -> str:
    """A short, fixed code for a verdict's reason; `other` for one this table does not know."""
    for prefix, code in _REASONS:
        if reason.startswith(prefix):
            return f"{code}-beyond-warm-target" if _WARM_DROP.search(reason) else code
    return "other"


@dataclass
class WaitWatch:
    """Counts each waiting job once when it has waited longer than `threshold_s` while its pool
    had room (fewer runners busy or coming than `max_runners`). The reconciler runs one round at a
    time per process (the timer is a singleton): a bounded memory of the jobs counted is enough."""

    threshold_s: float = WAITED_WITH_CAPACITY_S
    remember: int = 20_000
    _counted: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def note(
        self, pool: str, jobs: Iterable[WaitingJob], counts: RunnerCounts, max_runners: int, now: float
    ) -> int:
        if counts.busy + counts.coming >= max_runners:
            return 0
        newly = 0
        for job in jobs:
            key = f"{job.request.forge}:{job.request.job_id}"
            if now - job.waiting_since <= self.threshold_s or key in self._counted:
                continue
            self._counted[key] = None
            newly += 1
        while len(self._counted) > self.remember:
            self._counted.popitem(last=False)
        metrics.jobs_waited_with_capacity(pool, newly)
        return newly


_WAIT_WATCHES: dict[float, WaitWatch] = {}


def wait_watch(threshold_s: float) -> WaitWatch:
    """The process's watch for this threshold (reconcilers are built per round; the memory is not)."""
    return _WAIT_WATCHES.setdefault(threshold_s, WaitWatch(threshold_s))


@dataclass(frozen=True)
class RoundFigures:
    runners: Mapping[str, Mapping[str, int]]  # pool -> state -> runners (`runner_states`)
    counts: Mapping[str, RunnerCounts]
    targets: Mapping[str, int]


async def report_round(queue: WorkQueue, figures: RoundFigures) -> None:
    """Note for the gauges what the round saw: runners by state, warm target and ready runners per
    pool, and the depth of each work queue."""
    metrics.fleet_seen(
        figures.runners,
        figures.targets,
        {pool: figures.counts.get(pool, RunnerCounts()).idle_vms for pool in figures.targets},
    )
    for name in (PROVISION_QUEUE, RELEASE_QUEUE):
        metrics.queue_depth_seen(name, await queue.depth(name))
