"""One reconcile round: observe, decide, confirm suspects, act, recover missed jobs, keep pools warm."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

from runner_fleet import naming
from runner_fleet.cost.metering import Metering
from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger
from runner_fleet.messages import PoolRunnerRequest
from runner_fleet.ports.compute import MANAGED_BY, TAG_CREATED_AT, TAG_MANAGED_BY, Compute, VmInfo, tag_time
from runner_fleet.ports.feeds import JobFeed, ReportsCoverage, WaitingJob
from runner_fleet.ports.forge import RunnerBusy, RunnerInfo, RunnerRegistry, RunnerScope, distinct_scopes
from runner_fleet.ports.queue import PROVISION_QUEUE, WorkQueue
from runner_fleet.probe.vm import expired as probe_expired
from runner_fleet.probe.vm import is_probe
from runner_fleet.settings.pool import Pool
from runner_fleet.state.pool_requests import PoolRequests
from runner_fleet.state.pool_rounds import PoolRound, PoolRounds
from runner_fleet.state.runner_starts import RunnerStarts
from runner_fleet.state.store import REPROVISIONABLE, FleetState
from runner_fleet.state.table import Record
from runner_fleet.telemetry import metrics
from runner_fleet.usecases.reconcile.observed import (
    WAITED_WITH_CAPACITY_S,
    RoundFigures,
    reason_code,
    report_round,
    runner_states,
    wait_watch,
)
from runner_fleet.usecases.reconcile.rules import START_GUARD_S, RunnerView, Verdict, decide, keep_warm
from runner_fleet.usecases.reconcile.warm_upkeep import RunnerCounts, count_runners, plan_upkeep
from runner_fleet.warm.demand import DemandLog
from runner_fleet.warm.policy import warm_now

log = get_logger("reconcile")

# A suspect is acted on only if it is still one this long after it was marked (one timer round).
CONFIRM_AFTER_S = 45.0
# A capacity slot with nothing behind it for this long was left by a crashed step.
SLOT_GRACE_S = 120.0
# Give the webhook path this long before treating a waiting job as missed.
WEBHOOK_GRACE_S = 30.0
# Failed deliveries younger than this are redelivered (GitHub keeps three days; one hour is plenty
# for a timer that runs every minute, and bounds the work after an outage).
REDELIVERY_WINDOW_S = 3600.0
# A job the reconciler enqueued is not enqueued again for this long unless its runner is reaped
# first: its copy may wait behind a backlog or at capacity, and one copy per round would pile up.
REENQUEUE_AFTER_S = 600.0
# Idle VM-seconds are counted over the time since the last round, but no more than this: a gap of
# an hour (the timer did not run) says nothing about how long the VMs sat idle.
IDLE_ELAPSED_CAP_S = 180.0
# Job starts a webhook reported are kept this long (they matter for `START_GUARD_S`).
STARTS_KEPT = timedelta(minutes=10)


# The warm target last logged per pool (by this process): a change is logged once.
_LAST_TARGET: dict[str, tuple[int, str]] = {}

# What acting on a confirmed suspect came to, as the round's report shows it.
ActOutcome = Literal["deleted", "retired", "deregistered", "left alone: runner became busy"]


@dataclass
class ReconcileReport:
    dry_run: bool
    runners_seen: int = 0
    marked: list[dict[str, str]] = field(default_factory=list)
    acted: list[dict[str, str]] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    jobs_enqueued: list[str] = field(default_factory=list)
    redelivered: int = 0
    # Repositories (projects) the missed-job scan read, and those it left for a later round because
    # the forge's request budget ran short.
    repositories_scanned: int = 0
    repositories_skipped: int = 0
    errors: list[str] = field(default_factory=list)
    # Pool name -> its figures this round: waiting (jobs past the webhook grace), target (warm),
    # busy, coming (not busy and not going away, or on their way), wanted, warm_requests (sent).
    pools: dict[str, dict[str, int]] = field(default_factory=dict)
    # Pool name -> runner state (creating, booting, idle, busy, retiring) -> runners, as
    # `observed.runner_states` classifies what the round saw (`runner-fleet status` shows it).
    runners: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _created_at(vm: VmInfo | None) -> float | None:
    return tag_time(vm.tags.get(TAG_CREATED_AT)) if vm else None


@dataclass(frozen=True)
class _Round:
    """What one round saw, for the steps after the verdicts."""

    now: float
    views: Mapping[str, RunnerView]
    counts: Mapping[str, RunnerCounts]
    targets: Mapping[str, int]
    report: ReconcileReport


@dataclass(frozen=True)
class Reconciler:
    pools: Mapping[str, Pool]
    state: FleetState
    compute: Compute
    registries: Mapping[Forge, RunnerRegistry]
    queue: WorkQueue
    feeds: Mapping[Forge, JobFeed] = field(default_factory=dict)
    confirm_after_s: float = CONFIRM_AFTER_S
    webhook_grace_s: float = WEBHOOK_GRACE_S
    reenqueue_after_s: float = REENQUEUE_AFTER_S
    now: Callable[[], float] = time.time
    # Where adaptive pools' demand is kept: fed idle time and cold starts, read for their targets.
    demand: DemandLog | None = None
    # Writes the usage row of each VM it deletes (a warm runner retired, a VM that never came up).
    metering: Metering | None = None
    # A job waiting longer than this while its pool had room counts in `jobs.waited_with_capacity`.
    waited_with_capacity_s: float = WAITED_WITH_CAPACITY_S

    async def __call__(self, *, dry_run: bool = False) -> ReconcileReport:
        report = ReconcileReport(dry_run=dry_run)
        now = self.now()
        table = self.state.table
        starts, requests, rounds = RunnerStarts(table, clock=self.now), PoolRequests(table), PoolRounds(table)
        forges = {p.forge for p in self.pools.values()}
        # Provisions in flight, read once per round: one query per forge that returns only the job
        # records being provisioned, so finished jobs, however many, are not read.
        leases: dict[str, set[str]] = {forge: await self.state.active_leases(forge, now) for forge in forges}
        started: dict[str, float] = {}
        for forge in forges:
            started |= await starts.started_since(forge, now, START_GUARD_S)
        observed, idle_gone, probes = await self._observe(set().union(*leases.values()), started)
        await self._reap_probes(probes, now, report)
        views = await self._track_idle(observed, idle_gone, now, dry_run)
        report.runners_seen = len(views)
        last = await rounds.last()
        targets = {name: await self._warm_target(pool, now, report) for name, pool in self.pools.items()}
        suspects = {record.key: record for record in await self.state.suspects()}
        choice = keep_warm(
            [v for v in (decide(view, now) for view in views.values()) if v],
            views,
            targets,
            was_warm={name: round_.warm for name, round_ in last.items()},
            suspects=suspects,
        )
        verdicts = choice.verdicts
        for verdict in verdicts:
            prior = suspects.pop(verdict.name, None)
            try:
                await self._confirm(verdict, prior, views[verdict.name], now, report)
            except Exception as exc:  # one runner's trouble must not stop the round
                log.exception("reconcile.action_failed", runner=verdict.name, reason=verdict.reason)
                report.errors.append(f"{verdict.name}: {type(exc).__name__}")
        for key in suspects:
            # A suspect that recovered (it came online, or took a job): forget it.
            report.recovered.append(key)
            if not dry_run:
                await self.state.clear_suspect(key)
        if not dry_run:
            await self._free_leaked_slots(views, leases, now)
        # Runners judged wrong this round (reaped now, or suspects) are not coming for any job.
        judged = {v.name for v in verdicts}
        pending = await requests.pending(now, purge=not dry_run)
        all_leases = set().union(*leases.values())
        report.runners = runner_states(views.values(), judged=judged, leases=all_leases)
        claimed = [name for name in pending if name in views or name in all_leases]
        if not dry_run:
            for name in claimed:
                await requests.settle(name)
        counts = count_runners(
            views.values(),
            judged=judged,
            leases=all_leases,
            requested=[(r.pool, name) for name, r in pending.items() if name not in claimed],
        )
        seen = _Round(now, views, counts, targets, report)
        await self._upkeep(seen, requests)
        if not dry_run:
            await self._record_round(seen, choice.remember, last, rounds)
            for forge in forges:
                await starts.purge(forge, STARTS_KEPT)
            if metrics.enabled():
                await report_round(self.queue, RoundFigures(report.runners, counts, targets))
        log.info(
            "reconcile.done",
            **{k: len(v) if isinstance(v, list | dict) else v for k, v in report.as_dict().items()},
        )
        return report

    async def _warm_target(self, pool: Pool, now: float, report: ReconcileReport) -> int:
        auto = pool.limits.warm_auto
        demand = None
        if auto is not None and self.demand is not None:
            try:
                demand = await self.demand.snapshot(pool.name, auto, now)
            except Exception as exc:  # without its figures an adaptive pool falls back to its floor
                log.exception("reconcile.demand_failed", pool=pool.name)
                report.errors.append(f"{pool.name} demand: {type(exc).__name__}")
        warm = warm_now(pool, now, demand)
        if _LAST_TARGET.get(pool.name) != (warm.target, warm.reason):
            # Once per change, not per round: what the pool keeps ready now, and why.
            _LAST_TARGET[pool.name] = (warm.target, warm.reason)
            log.info("warm.target", pool=pool.name, target=warm.target, mode=warm.mode, reason=warm.reason)
        return warm.target

    # -- observe --------------------------------------------------------------------------------
    async def _observe(
        self, leases: set[str], started: Mapping[str, float]
    ) -> tuple[dict[str, RunnerView], set[str], list[VmInfo]]:
        """What exists now, the runners with an idle record that no longer exist, and the probe VMs."""
        pools = list(self.pools.values())
        listed = [
            vm for vm in await self.compute.list_vms(pools) if vm.tags.get(TAG_MANAGED_BY) == MANAGED_BY
        ]
        # Probe VMs run no runner: no runner rule judges them (`_reap_probes` does).
        vms = {vm.name: vm for vm in listed if not is_probe(vm)}
        registrations: dict[str, RunnerInfo] = {}
        for scope in distinct_scopes(pools):
            for runner in await self.registries[scope.pool.forge].list_runners(scope):
                if naming.pool_of(runner.name) in self.pools:
                    registrations[runner.name] = runner
        idle = await self.state.idle_since()
        views: dict[str, RunnerView] = {}
        for name in set(vms) | set(registrations):
            known = self.pools.get(naming.pool_of(name) or "")
            if known is None:
                continue  # a pool removed from the configuration: its limits are unknown, leave it alone
            vm = vms.get(name)
            views[name] = RunnerView(
                name,
                known,
                vm,
                registrations.get(name),
                _created_at(vm),
                name in leases,
                idle.get(name),
                started.get(name),
            )
        return views, set(idle) - set(views), [vm for vm in listed if is_probe(vm)]

    async def _reap_probes(self, probes: list[VmInfo], now: float, report: ReconcileReport) -> None:
        """Delete probe VMs past their `expires-at`: their `doctor --probe` was killed before it could.

        At once, not as suspects a round later: nothing runs on a probe VM that anyone waits for, and
        its expiry already leaves its own run a margin. A probe of a pool no longer configured is left
        alone, as its runners are (where to delete it is the pool's to say).
        """
        for vm in probes:
            pool = self.pools.get(vm.pool or "")
            if pool is None or not probe_expired(vm, now):
                continue
            entry = {
                "runner": vm.name,
                "pool": pool.name,
                "action": "delete",
                "reason": "probe VM past its expires-at (its doctor --probe did not delete it)",
            }
            if report.dry_run:
                report.acted.append(entry | {"outcome": "would act (dry run)"})
                continue
            try:
                await self.compute.delete_vm(pool, vm.name, wait=False)
            except Exception as exc:
                log.exception("reconcile.probe_delete_failed", pool=pool.name, vm=vm.name)
                report.errors.append(f"{vm.name}: {type(exc).__name__}")
                continue
            log.info("reconcile.probe_deleted", pool=pool.name, vm=vm.name)
            metrics.reconcile_action("delete", "probe-expired")
            report.acted.append(entry | {"outcome": "deleted"})

    async def _track_idle(
        self, views: dict[str, RunnerView], gone: set[str], now: float, dry_run: bool
    ) -> dict[str, RunnerView]:
        """Note when each runner was first seen idle; forget it once it is not, or is gone."""
        if not dry_run:
            for name in gone:
                await self.state.clear_idle(name)
        tracked: dict[str, RunnerView] = {}
        for name, view in views.items():
            # A start a webhook reported ends the streak, whatever the forge's lagging flag says.
            since = (view.idle_since or now) if view.idle else None
            if since != view.idle_since and not dry_run:
                await (
                    self.state.mark_idle(name, since) if since is not None else self.state.clear_idle(name)
                )
            tracked[name] = replace(view, idle_since=since)
        return tracked

    # -- decide and act -------------------------------------------------------------------------
    async def _confirm(
        self, verdict: Verdict, prior: Record | None, view: RunnerView, now: float, report: ReconcileReport
    ) -> None:
        dry_run = report.dry_run
        entry = {
            "runner": verdict.name,
            "pool": view.pool.name,
            "action": verdict.action,
            "reason": verdict.reason,
        }
        if verdict.action == "deregister":
            # Not destructive to anything running (the job keeps its own token), and every minute the
            # registration lives its token could take another job: no second round.
            outcome = "would act (dry run)" if dry_run else await self._deregister(view)
            report.acted.append(entry | {"outcome": outcome})
            if not dry_run:
                metrics.reconcile_action(verdict.action, reason_code(verdict.reason))
            return
        if prior is None or prior.data.get("action") != verdict.action:
            report.marked.append(entry)
            log.info("reconcile.suspect", **entry)
            if not dry_run:
                await self.state.mark_suspect(verdict.name, action=verdict.action, reason=verdict.reason)
            return
        if now - float(prior.data.get("since") or now) < self.confirm_after_s:
            return
        fresh = await self._recheck(view, now)
        confirmed = decide(fresh, now)
        if confirmed is None or confirmed.action != verdict.action:
            report.recovered.append(verdict.name)
            if not dry_run:
                await self.state.clear_suspect(verdict.name)
            return
        if dry_run:
            report.acted.append(entry | {"outcome": "would act (dry run)"})
            return
        outcome = await self._act(fresh, confirmed)
        report.acted.append(entry | {"outcome": outcome})
        if outcome != "left alone: runner became busy":
            metrics.reconcile_action(confirmed.action, reason_code(confirmed.reason))
        await self.state.clear_suspect(verdict.name)

    async def _recheck(self, view: RunnerView, now: float) -> RunnerView:
        """The same runner, read again just before acting on it."""
        scope = RunnerScope.of_pool(view.pool)
        registry = self.registries[view.forge]
        vm = await self.compute.get_vm(view.pool, view.name)
        if view.registration is not None:
            registration = await registry.get(scope, view.registration.runner_id)
        else:
            registration = await registry.find(scope, view.name)
        if registration is not None and registration.name != view.name:
            registration = None
        # Read again, not reused from the round's start: a provision may have taken this runner's
        # job since, and its VM must not be deleted under it (the query returns only leased rows).
        leases = await self.state.active_leases(view.forge, now)
        # And a job start reported since the round began: the forge's busy flag may not show it yet.
        started = await RunnerStarts(self.state.table).started_since(view.forge, now, START_GUARD_S)
        return RunnerView(
            view.name,
            view.pool,
            vm,
            registration,
            _created_at(vm) or view.created_at,
            view.name in leases,
            view.idle_since,
            started.get(view.name),
        )

    async def _deregister(self, view: RunnerView) -> ActOutcome:
        registration = view.registration
        assert registration is not None  # a deregister verdict is about a registration
        ctx = {"forge": view.forge, "pool": view.pool.name, "runner": view.name}
        if registration.job_id is not None:
            # Bound first: once the registration is gone GitLab reports the job without its runner.
            await self.state.bind_job(
                view.forge, str(registration.job_id), runner_name=view.name, runner_id=registration.runner_id
            )
        removed = await self.registries[view.forge].remove(
            RunnerScope.of_pool(view.pool), registration.runner_id
        )
        log.info(
            "runner.deregistered",
            **ctx,
            job_id=registration.job_id,
            removed=removed,
            reason="its job started",
        )
        return "deregistered"

    async def _act(self, view: RunnerView, verdict: Verdict) -> ActOutcome:
        ctx = {"forge": view.forge, "pool": view.pool.name, "runner": view.name, "reason": verdict.reason}
        registry, scope = self.registries[view.forge], RunnerScope.of_pool(view.pool)
        if verdict.loud:
            log.error("reconcile.killing_busy_runner", **ctx)
        if view.registration is not None:
            try:
                await registry.remove(scope, view.registration.runner_id)
            except RunnerBusy:
                if not verdict.loud:
                    # It took a job between our check and the removal: leave it to finish.
                    log.info("reconcile.runner_became_busy", **ctx)
                    return "left alone: runner became busy"
        vm_deleted = await self.compute.delete_vm(view.pool, view.name) if view.vm is not None else False
        if vm_deleted and view.vm is not None and self.metering is not None:
            await self.metering.deleted(view.pool, view.forge, view.vm, ctx, ended_by="reconcile")
        job = view.vm.tags.get("job") if view.vm is not None else None
        if job:
            # If the job this VM was made for still waits, the job scan may now give it a new runner.
            await self.state.reopen_job(view.forge, job)
        else:
            # A pool runner (or one whose VM is gone): its claim and note go with it.
            await self.state.forget_pool_runner(view.forge, view.name)
        await self.state.clear_idle(view.name)
        await self.state.free_slot(view.pool.name, view.name)
        log.info(
            "reconcile.acted",
            **ctx,
            action=verdict.action,
            vm_deleted=vm_deleted,
            registration_removed=view.registration is not None,
        )
        return "retired" if verdict.action == "retire" else "deleted"

    async def _free_leaked_slots(
        self, views: Mapping[str, RunnerView], leases: Mapping[str, set[str]], now: float
    ) -> None:
        """Slots whose runner has neither VM nor registration nor a provision in flight (a crashed step)."""
        for pool in self.pools.values():
            for name, taken_at in (await self.state.slots(pool.name)).items():
                if name in views or name in leases[pool.forge] or now - taken_at < SLOT_GRACE_S:
                    continue
                await self.state.free_slot(pool.name, name)
                log.info("reconcile.slot_freed", pool=pool.name, runner=name)
                metrics.reconcile_action("free-slot", "leaked-slot")

    # -- missed webhooks and the warm pool ------------------------------------------------------
    async def _upkeep(self, seen: _Round, requests: PoolRequests) -> None:
        """Per pool: jobs still waiting with no runner coming get a provision of their own, and the
        rest of the pool's wanted count (waiting + warm target, within capacity) is asked for as
        warm pool runners."""
        now, report = seen.now, seen.report
        # Runners judged wrong this round are not coming for any job, but still exist: a job whose
        # runner is one of them is not reopened as if its runner had vanished.
        observed = set(seen.views)
        for forge in sorted({pool.forge for pool in self.pools.values()}):
            pools = [pool for pool in self.pools.values() if pool.forge == forge]
            by_pool = await self._waiting_jobs(forge, pools, now, report)
            for pool_name in sorted(set(by_pool) | {pool.name for pool in pools}):
                jobs = by_pool.get(pool_name, [])
                counts = seen.counts.get(pool_name, RunnerCounts())
                # Runners are interchangeable: a waiting job needs a provision of its own only if
                # more jobs wait than runners are on their way (booting, idle, being provisioned or
                # requested) for the same pool.
                job_provisions = 0
                for job in jobs[counts.coming :]:
                    if await self._enqueue_missed(forge, job, observed, now=now, report=report):
                        job_provisions += 1
                pool = self.pools.get(pool_name)
                if pool is None:
                    continue  # a job for a pool no longer configured: recovered as before, no upkeep
                if metrics.enabled() and not report.dry_run:
                    watch = wait_watch(self.waited_with_capacity_s)
                    watch.note(pool_name, jobs, counts, pool.limits.max_runners, now)
                target = seen.targets.get(pool_name, 0)
                upkeep = plan_upkeep(
                    waiting=len(jobs),
                    target=target,
                    busy=counts.busy,
                    coming=counts.coming,
                    max_runners=pool.limits.max_runners,
                    job_provisions=job_provisions,
                )
                await self._request_warm(pool, upkeep.warm_requests, requests, seen)
                report.pools[pool_name] = {
                    "waiting": len(jobs),
                    "target": target,
                    "busy": counts.busy,
                    "coming": counts.coming,
                    "wanted": upkeep.wanted,
                    "job_provisions": job_provisions,
                    "warm_requests": upkeep.warm_requests,
                }

    async def _waiting_jobs(
        self, forge: Forge, pools: list[Pool], now: float, report: ReconcileReport
    ) -> dict[str, list[WaitingJob]]:
        """Pool name -> its jobs waiting past the webhook grace, oldest first (none if the feed failed)."""
        feed = self.feeds.get(forge)
        if feed is None:
            return {}
        try:
            if not report.dry_run:
                redelivered = await feed.redeliver_failed(REDELIVERY_WINDOW_S)
                report.redelivered += redelivered
                metrics.reconcile_action("redeliver", "failed-delivery", redelivered)
            waiting = await feed.waiting_jobs(pools)
            coverage = feed.last_coverage() if isinstance(feed, ReportsCoverage) else None
            if coverage is not None:
                report.repositories_scanned += coverage.scanned
                report.repositories_skipped += coverage.skipped
        except Exception as exc:
            log.exception("reconcile.feed_failed", forge=forge)
            report.errors.append(f"{forge} feed: {type(exc).__name__}")
            return {}
        by_pool: dict[str, list[WaitingJob]] = {}
        for job in sorted(waiting, key=lambda j: j.waiting_since):
            if now - job.waiting_since >= self.webhook_grace_s:
                by_pool.setdefault(job.request.pool or job.pool_hint, []).append(job)
        return by_pool

    async def _request_warm(self, pool: Pool, count: int, requests: PoolRequests, seen: _Round) -> None:
        now = seen.now
        for i in range(count):
            # Named by the round's time: a round retried within the same second asks for the same
            # runners, which their provision makes once.
            key = f"w{int(now)}-{i}"
            name = naming.pool_runner_name(pool.name, pool.forge, key)
            log.info("reconcile.warm_request", forge=pool.forge, pool=pool.name, runner=name, key=key)
            if seen.report.dry_run:
                continue
            message = PoolRunnerRequest(
                forge=pool.forge, pool=pool.name, key=key, reason="warm", requested_at=now
            )
            # Sent before it is noted: a note without its message would hold the pool short for ten
            # minutes, a message without its note costs one idle runner at most.
            await self.queue.send(PROVISION_QUEUE, message.to_json())
            metrics.reconcile_action("warm-request", "below-warm-target")
            await requests.note(pool.forge, pool.name, key, name, now)

    # -- what the next round compares with ------------------------------------------------------
    async def _record_round(
        self,
        seen: _Round,
        warm: Mapping[str, frozenset[str]],
        last: Mapping[str, PoolRound],
        rounds: PoolRounds,
    ) -> None:
        """Remember this round per pool, and feed the adaptive warm target: idle VM-seconds since the
        last round, and the cold start of each runner seen online for the first time."""
        now = seen.now
        online: dict[str, set[str]] = {}
        for view in seen.views.values():
            if view.registration is not None and view.registration.status == "online":
                online.setdefault(view.pool.name, set()).add(view.name)
        for name in self.pools:
            before = last.get(name)
            pool_online = frozenset(online.get(name, set()))
            if self.demand is not None and before is not None and now > before.at:
                gap = now - before.at
                # After a gap (the timer stopped), "first seen online" may be long after it came.
                first_online = pool_online - before.online if gap <= IDLE_ELAPSED_CAP_S else frozenset()
                try:
                    await self._note_demand(name, seen, min(gap, IDLE_ELAPSED_CAP_S), first_online)
                except Exception:  # the demand log only tunes a target: never let it stop a round
                    log.exception("reconcile.demand_failed", pool=name)
            await rounds.record(name, PoolRound(now, warm.get(name, frozenset()), pool_online))
        for name in set(last) - set(self.pools):
            await rounds.forget(name)

    async def _note_demand(
        self, pool: str, seen: _Round, elapsed: float, first_online: frozenset[str]
    ) -> None:
        assert self.demand is not None
        now, idle_vms = seen.now, seen.counts.get(pool, RunnerCounts()).idle_vms
        if idle_vms:
            await self.demand.add_idle(pool, idle_vms * elapsed, now)
        for name in sorted(first_online):
            created_at = seen.views[name].created_at
            if created_at is not None and now >= created_at:
                await self.demand.note_cold_start(pool, now - created_at, now)

    async def _enqueue_missed(
        self, forge: Forge, job: WaitingJob, observed: set[str], *, now: float, report: ReconcileReport
    ) -> bool:
        """Enqueue a provision for a waiting job nothing of ours serves. True if one is on its way from
        here (sent now, or an earlier copy still waiting); False if its own runner is (that one is
        counted among the runners coming already)."""
        request, key, dry_run = job.request, str(job.request.job_id), report.dry_run
        if not await self._reopen_if_unserved(forge, key, observed, now=now, dry_run=dry_run):
            return False
        started = await self.state.recovery_started(forge, key)
        if started is not None and now - started < self.reenqueue_after_s:
            return True  # the copy enqueued then is still on its way (behind a backlog, or at capacity)
        report.jobs_enqueued.append(f"{forge}:{request.job_id}")
        log.info("reconcile.missed_job", forge=forge, job_id=request.job_id, pool=request.pool or None)
        if not dry_run:
            body = request.model_copy(update={"delivery_id": "reconcile"}).to_json()
            await self.queue.send(PROVISION_QUEUE, body)
            await self.state.note_recovery(forge, key, now)
            metrics.reconcile_action("enqueue", "missed-job")
        return True

    async def _reopen_if_unserved(
        self, forge: Forge, key: str, observed: set[str], *, now: float, dry_run: bool
    ) -> bool:
        """Whether nothing of ours is on its way to this waiting job; a job whose runner vanished is
        reopened on the way (a write), or no provision would ever make it another."""
        record = await self.state.job(forge, key)
        if record is None:
            return True  # its webhook never reached us
        state, runner = record.data.get("state"), str(record.data.get("runner_name") or "")
        if state in REPROVISIONABLE:
            return True
        if state == "provisioning":
            # A lease that ran out belongs to a worker that died or a message that was poisoned;
            # a new provision may take the job over.
            return float(record.data.get("lease_until") or 0) <= now
        if state == "provisioned" and runner not in observed:
            # Its runner vanished without running it (deleted between a release and this job's reopening,
            # or by hand): reopen it, or no provision would ever make it another.
            log.warning("reconcile.runner_lost", forge=forge, job_id=key, runner=runner)
            if not dry_run:
                await self.state.reopen_job(forge, key)
            return True
        return False  # its own runner is still on its way, or the job was served
