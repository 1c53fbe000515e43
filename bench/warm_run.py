"""Warm runners: one simulated day replayed on a GitHub pool and a GitLab pool, once per warm mode.

Modes (the pools' `limits.warm`): `off` (0), `static` (a fixed number), `schedule` (a number during
the day's working hours, 0 otherwise) and `auto` (sized from demand between a minimum and a
maximum, within an idle budget). Each mode runs on a fresh stack (simulators, host, reconciler),
one after the other, with the same arrivals (`warm_trace`).

Every figure comes from what the simulators saw: each job's queued, started and finished times and
when the runner that took it first came online (the forge's records), and every VM ever created
with its create, online and delete times (ARM's records). See README.md for the definitions.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from bench.measure import percentile, vm_figures
from bench.observe import JobSeen, Observation, VmSeen, observe, vm_names
from bench.pools import TIMEOUTS, PoolSpec, bench_pools, wide_runner_topology
from bench.stack import BenchStack, ReconcileCadence
from bench.warm_trace import DAY, FORGES, QUICK_DAY, Arrival, Trace, build_trace
from runner_fleet import naming
from runner_fleet.forges import Forge
from runner_fleet.usecases.reconcile.rules import BUSY_LAG_GUARD_S
from simulator.arm import ArmConfig, Timing
from simulator.stack import DEMO_ORG, SimulatedCloud, demo_github_config, demo_gitlab_config

Mode = Literal["off", "static", "schedule", "auto"]
MODES: tuple[Mode, ...] = get_args(Mode)
POOLS = ("gh-prod", "gl-deploy")  # one pool per forge
# How long after starting the stack the day begins at the earliest (real seconds).
STARTUP_MARGIN_S = 3.0
# The goals the issue sets (simulated seconds); measured, never asserted.
GOALS = {"warm_hit_p50_under_s": 5.0, "auto_p90_under_s": 15.0, "auto_idle_vm_s_per_job_under": 60.0}


@dataclass(frozen=True)
class WarmSettings:
    time_scale: float = 60.0
    modes: tuple[Mode, ...] = MODES
    quick: bool = False  # a thin day of short trace hours, for tests
    hour_sim_s: float | None = None  # a trace hour in simulated seconds (default 300; quick 40)
    static_warm: int = 3
    schedule_warm: int = 3
    auto_min: int = 0
    auto_max: int = 6
    # idle_budget_vm_hours_per_day per pool, for a real day; the setting gets the run's share of it
    # on the service's clock (`auto_setting`).
    auto_budget_vm_hours: float = 12.0
    max_runners: int = 40
    job_duration_s: tuple[float, float] = (60.0, 180.0)  # simulated
    guest_poll_s: float = 3.0  # simulated: how often a runner asks for a job (gitlab-runner's default)
    # Real seconds after the day for the fleet to come down to its target: an idle streak must
    # outlast the idle timeout (60 s) and the busy-lag guard (120 s), then a few rounds; `--quick`
    # settles for less and reports what is still winding down.
    settle_s: float | None = None
    max_seconds: float = 1800.0  # the whole run, all modes
    seed: int = 3
    plot: Path | None = None

    @property
    def trace_hour_sim_s(self) -> float:
        if self.hour_sim_s is not None:
            return self.hour_sim_s
        return 40.0 if self.quick else 300.0

    def trace(self) -> Trace:
        return build_trace(
            QUICK_DAY if self.quick else DAY,
            hour_sim_s=self.trace_hour_sim_s,
            time_scale=self.time_scale,
            durations_s=(30.0, 60.0) if self.quick else self.job_duration_s,
            seed=self.seed,
        )

    @property
    def settle_seconds(self) -> float:
        if self.settle_s is not None:
            return self.settle_s
        return 10.0 if self.quick else max(TIMEOUTS["idle_timeout_s"], BUSY_LAG_GUARD_S) + 20.0

    @property
    def jobs(self) -> int:
        return self.trace().jobs() * len(self.modes)

    @property
    def cadence(self) -> ReconcileCadence:
        # Every simulated minute, as the timer runs in production every real minute; the clock is
        # not put ahead (no VM here fails to boot), so the service has one clock: real time.
        return ReconcileCadence(every_s=max(0.5, 60.0 / self.time_scale), clock_ahead_s=0.0)


def parse_modes(text: str) -> tuple[Mode, ...]:
    chosen: list[Mode] = []
    for word in (w.strip() for w in text.split(",") if w.strip()):
        mode = next((m for m in MODES if m == word), None)
        if mode is None:
            raise ValueError(f"unknown mode {word!r} (expected some of {', '.join(MODES)})")
        if mode not in chosen:
            chosen.append(mode)
    if not chosen:
        raise ValueError("no mode given")
    return tuple(chosen)


# -- the schedule's window on the service's clock ----------------------------------------------


@dataclass(frozen=True)
class Window:
    """The schedule mode's working hours as cron expressions on the service's (real, UTC) clock.

    The service reads the schedule on its own clock, real time, while the simulated day runs
    `time_scale` times faster: the day is started so that its working hours begin on a real minute
    (cron's resolution), and the window lasts the whole real minutes nearest to its trace hours.
    """

    day_starts_at: float  # epoch, real
    opens_at: float  # epoch, real, on a minute
    closes_at: float
    start_cron: str
    end_cron: str

    def trace_hours(self, trace: Trace) -> tuple[float, float]:
        return (
            round((self.opens_at - self.day_starts_at) / trace.hour_real_s, 2),
            round((self.closes_at - self.day_starts_at) / trace.hour_real_s, 2),
        )

    def describe(self, trace: Trace) -> dict[str, Any]:
        return {
            "start": self.start_cron,
            "end": self.end_cron,
            "timezone": "UTC",
            "opens_at_utc": _iso(self.opens_at),
            "closes_at_utc": _iso(self.closes_at),
            "window_trace_hours": list(self.trace_hours(trace)),
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _cron(epoch: float) -> str:
    at = datetime.fromtimestamp(epoch, UTC)
    return f"{at.minute} {at.hour} * * *"


def plan_window(trace: Trace, earliest_start: float) -> Window:
    opens_h, closes_h = trace.shape.working_hours
    opens_at = math.ceil((earliest_start + opens_h * trace.hour_real_s) / 60.0) * 60.0
    minutes = max(1, round((closes_h - opens_h) * trace.hour_real_s / 60.0))
    closes_at = opens_at + minutes * 60.0
    return Window(
        opens_at - opens_h * trace.hour_real_s, opens_at, closes_at, _cron(opens_at), _cron(closes_at)
    )


def warm_setting(mode: Mode, settings: WarmSettings, trace: Trace, window: Window | None) -> Any:
    """The pools' `limits.warm` in `mode`."""
    if mode == "off":
        return 0
    if mode == "static":
        return settings.static_warm
    if mode == "schedule":
        assert window is not None
        entry = {
            "start": window.start_cron,
            "end": window.end_cron,
            "timezone": "UTC",
            "warm": settings.schedule_warm,
        }
        return {"schedule": [entry], "otherwise": 0}
    return {"auto": auto_setting(settings, trace)}


def auto_setting(settings: WarmSettings, trace: Trace) -> dict[str, Any]:
    """`auto` on the service's clock, which is real time while the simulated day runs compressed and
    scaled: the service counts idle VM time in real seconds (a simulated second is 1/time_scale of
    one) per real UTC day, of which the run is `span_real_s`. The budget it gets is the day's budget
    in that proportion, so that it allows the same idle VMs on average as `auto_budget_vm_hours` a
    day would. Its arrival window is its shortest (60 s, on its clock)."""
    return {
        "min": settings.auto_min,
        "max": settings.auto_max,
        "idle_budget_vm_hours_per_day": round(settings.auto_budget_vm_hours * trace.span_real_s / 86400, 6),
        "window_s": 60,
    }


def target_bound(mode: Mode, settings: WarmSettings) -> int:
    """How many VMs a pool may still have once the day is over and its jobs are done: the target in
    force then (the schedule's window has closed), or for `auto` its maximum (its target is the
    service's own estimate, which the simulators cannot see)."""
    return {"off": 0, "static": settings.static_warm, "schedule": 0, "auto": settings.auto_max}[mode]


# -- the stack --------------------------------------------------------------------------------


def warm_pools(max_runners: int) -> tuple[PoolSpec, ...]:
    specs = bench_pools(max_runners=max_runners, small_pool_max=1)
    return tuple(spec for spec in specs if spec.name in POOLS)


def pools_environment(specs: Sequence[PoolSpec], warm: Any) -> dict[str, str]:
    pools = []
    for spec in specs:
        setting = spec.as_setting()
        setting["limits"] = {**setting["limits"], "warm": warm}
        pools.append(setting)
    return {"RUNNER_POOLS": json.dumps({"pools": pools})}


def _arm_config(settings: WarmSettings) -> ArmConfig:
    return ArmConfig(
        topology=wide_runner_topology(),
        timing=Timing(
            latency_ms=(15.0, 60.0), provisioning_s=40.0, boot_s=25.0, delete_s=20.0, poll_interval_s=5.0
        ),
        guest_poll_s=settings.guest_poll_s,
        request_log_size=200,
        seed=settings.seed,
    )


def _queue(cloud: SimulatedCloud, spec: PoolSpec, arrival: Arrival) -> str:
    shape = spec.shape
    if shape.forge == "github":
        job = cloud.github.queue_job(
            DEMO_ORG, shape.repository, list(shape.labels), duration_s=arrival.duration_s, name=arrival.name
        )
        return f"github:{job['id']}"
    job = cloud.gitlab.create_job(
        shape.project_id, list(shape.labels), duration_s=arrival.duration_s, name=arrival.name
    )
    return f"gitlab:{job['id']}"


@dataclass
class Replay:
    jobs: dict[str, Arrival] = field(default_factory=dict)  # forge:id -> its arrival
    late_s: float = 0.0  # the most a job was queued after its time (real seconds)
    error: BaseException | None = None


def _replay(
    cloud: SimulatedCloud,
    pools: Mapping[Forge, PoolSpec],
    trace: Trace,
    day_starts_at: float,
    stop: threading.Event,
) -> Replay:
    """Queue the day's jobs at their times (on a thread, so a busy service loop cannot hold them)."""
    replay = Replay()
    try:
        for arrival in trace.arrivals:
            due = day_starts_at + arrival.at_sim_s / trace.time_scale
            if stop.wait(max(0.0, due - time.time())):
                return replay
            replay.late_s = max(replay.late_s, time.time() - due)
            replay.jobs[_queue(cloud, pools[arrival.forge], arrival)] = arrival
    except Exception as error:  # reported with the mode's figures
        replay.error = error
    return replay


# -- one mode ----------------------------------------------------------------------------------


@dataclass
class ModeRecord:
    mode: Mode
    warm: Any
    replay: Replay
    day_starts_at: float
    cut: Observation  # at the end of the day (or once its last job finished): costs stop here
    final: Observation  # after settling: jobs, leaks
    window: Window | None
    ended: dict[str, str]
    tally: dict[str, Any]
    wall_s: float


async def run_mode(
    mode: Mode, settings: WarmSettings, trace: Trace, deadline: float, say: Callable[[str], None]
) -> ModeRecord:
    wall = time.monotonic()
    specs = warm_pools(settings.max_runners)
    pools = {spec.forge: spec for spec in specs}
    pool_forges = {spec.name: spec.forge for spec in specs}
    window = plan_window(trace, time.time() + STARTUP_MARGIN_S) if mode == "schedule" else None
    warm = warm_setting(mode, settings, trace, window)
    stack = await BenchStack.start(
        time_scale=settings.time_scale,
        arm_config=_arm_config(settings),
        github_config=demo_github_config(seed=settings.seed),
        gitlab_config=demo_gitlab_config(seed=settings.seed, pending_timeout_s=24 * 3600.0),
        environment=pools_environment(specs, warm),
    )
    stop = threading.Event()
    ended: dict[str, str] = {}
    try:
        stack.start_reconciling(settings.cadence)
        day_starts_at = window.day_starts_at if window is not None else time.time()
        say(f"[{mode}] warm {json.dumps(warm)}; the day starts in {day_starts_at - time.time():.1f} s")
        queueing = asyncio.create_task(
            asyncio.to_thread(_replay, stack.cloud, pools, trace, day_starts_at, stop)
        )
        day_ends_at = day_starts_at + trace.span_real_s
        try:
            ended["day"] = await _until(
                stack,
                pool_forges,
                lambda obs, now: queueing.done() and now >= day_ends_at and obs.finished(_keys(queueing)),
                until=deadline - settings.settle_seconds,
                say=lambda line: say(f"[{mode}] {line}"),
            )
        finally:
            stop.set()
            replay = await queueing
        if replay.error is not None:
            raise replay.error
        names = vm_names(dict.fromkeys(replay.jobs, ""), pool_forges)
        cut = await asyncio.to_thread(observe, stack.cloud, set(pool_forges), names)
        bound = target_bound(mode, settings)
        ended["settle"] = await _until(
            stack,
            pool_forges,
            lambda obs, _now: end_state(obs, bound, 0.0).settled,
            until=min(deadline, time.time() + settings.settle_seconds),
            say=lambda line: say(f"[{mode}] [settle] {line}"),
        )
        await stack.stop_reconciling()
        final = await asyncio.to_thread(observe, stack.cloud, set(pool_forges), names)
    finally:
        stop.set()
        tally = stack.tally.as_dict()
        await stack.stop()
    return ModeRecord(
        mode, warm, replay, day_starts_at, cut, final, window, ended, tally, round(time.monotonic() - wall, 1)
    )


def _keys(queueing: asyncio.Task[Replay]) -> list[str]:
    """The jobs queued, once the replay has ended (until then, none: the day is not over)."""
    return list(queueing.result().jobs) if queueing.done() and not queueing.cancelled() else []


async def _until(
    stack: BenchStack,
    pool_forges: Mapping[str, Forge],
    done: Callable[[Observation, float], bool],
    *,
    until: float,
    say: Callable[[str], None],
) -> str:
    last_said = 0.0
    while True:
        obs = await asyncio.to_thread(observe, stack.cloud, set(pool_forges), {})
        now = time.time()
        outcome = "finished" if done(obs, now) else "deadline" if now >= until else ""
        if now - last_said >= 10.0 or outcome:
            live = len(obs.live_vms)
            queued = sum(1 for j in obs.jobs.values() if j.status == "queued")
            running = sum(1 for j in obs.jobs.values() if j.status == "running")
            say(
                f"jobs {len(obs.jobs)}: {queued} queued, {running} running | VMs live {live}, "
                f"created {len(obs.vms)}" + (f" ({outcome})" if outcome else "")
            )
            last_said = now
        if outcome:
            return outcome
        await asyncio.sleep(1.0)


def _pool_forge(name: str, pool_forges: Mapping[str, Forge]) -> Forge | None:
    return pool_forges.get(naming.pool_of(name) or "")


@dataclass(frozen=True)
class EndState:
    """What is left of ours once the day is over, against what the mode may keep (`bound` a pool)."""

    live: int
    excess: int  # VMs beyond the bound, summed over the pools
    leaked: int  # of those, VMs without a job for longer than the service may take to retire them
    orphans: list[str]  # registrations of ours whose VM is gone

    @property
    def settled(self) -> bool:
        return not self.excess and not self.orphans

    @property
    def winding_down(self) -> int:
        return self.excess - self.leaked


def end_state(obs: Observation, bound: int, overdue_after_s: float) -> EndState:
    """A VM beyond its pool's bound is leaked once it has been without a job (or without ever coming
    online) for `overdue_after_s` real seconds: the idle timeout and two reconcile rounds. Until
    then it is winding down: the reconciler retires an idle runner after the idle timeout."""
    last_busy: dict[str, float] = {}
    for job in obs.jobs.values():
        if job.runner and job.started_at is not None:
            end = float(job.finished_at or obs.at)
            last_busy[job.runner] = max(last_busy.get(job.runner, 0.0), end)
    by_pool: dict[str, list[VmSeen]] = {}
    for vm in obs.live_vms:
        by_pool.setdefault(naming.pool_of(vm.name) or "", []).append(vm)
    excess = leaked = 0
    for vms in by_pool.values():
        over = max(0, len(vms) - bound)
        overdue = sum(
            1
            for vm in vms
            if obs.at - max(vm.created_at, vm.registered_at or 0.0, last_busy.get(vm.name, 0.0))
            > overdue_after_s
        )
        excess += over
        leaked += min(over, overdue)
    names = {vm.name for vm in obs.live_vms}
    orphans = [name for name in obs.registrations if name not in names]
    return EndState(len(obs.live_vms), excess, leaked, orphans)


# -- the figures -------------------------------------------------------------------------------


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def warm_hit(job: JobSeen) -> bool:
    """The job found a warm runner: the runner that took it was online when it was queued."""
    return job.connected_at is not None and job.queued_at is not None and job.connected_at <= job.queued_at


def _idle(vm: VmSeen, busy: list[tuple[float, float]], cut: float) -> tuple[float, float, float]:
    """Seconds (real) `vm` existed before `cut` without running a job: (before it came online, online
    and waiting for a job, after its last job until it was gone)."""
    end = min(vm.end(cut), cut)
    if end <= vm.created_at:
        return 0.0, 0.0, 0.0
    online = min(max(vm.registered_at or end, vm.created_at), end)
    spans = sorted(
        (max(a, vm.created_at), min(b, end)) for a, b in busy if min(b, end) > max(a, vm.created_at)
    )
    covered, reach = 0.0, vm.created_at
    for a, b in spans:
        if b > reach:
            covered += b - max(a, reach)
            reach = b
    after = end - max(reach, online) if spans else 0.0
    waiting = max(0.0, (end - online) - covered - after)
    return online - vm.created_at, waiting, max(0.0, after)


def figures(
    record: ModeRecord,
    trace: Trace,
    forge: Forge | None,
    *,
    pool_forges: Mapping[str, Forge],
    bound: int,
    overdue_after_s: float,
) -> dict[str, Any]:
    """One mode's figures, for one forge or (None) both."""
    scale = trace.time_scale
    final, cut = record.final, record.cut.at
    keys = [k for k, a in record.replay.jobs.items() if forge is None or a.forge == forge]
    seen = [final.jobs[k] for k in keys if k in final.jobs]
    started = [j for j in seen if j.started_at is not None and j.queued_at is not None]

    def wait(job: JobSeen) -> float:
        return (float(job.started_at or 0) - float(job.queued_at or 0)) * scale

    waits = [wait(j) for j in started]
    steady = [wait(j) for j in started if not record.replay.jobs[j.key].burst]
    hits = [wait(j) for j in started if warm_hit(j)]
    ours = [
        vm for vm in final.vms if (f := _pool_forge(vm.name, pool_forges)) and (forge is None or f == forge)
    ]
    ours = [vm for vm in ours if vm.created_at < cut]
    busy: dict[str, list[tuple[float, float]]] = {}
    for job in final.jobs.values():
        if job.runner and job.started_at is not None:
            busy.setdefault(job.runner, []).append((float(job.started_at), float(job.finished_at or cut)))
    # The cost of readiness: VM time online and waiting for a job, and the boot of VMs that never ran
    # one. A VM's boot before the job it ran is that job's cold start, and its teardown after it the
    # job's end, both paid in every mode alike: reported, not counted.
    booting = waiting = teardown = wasted_boots = 0.0
    for vm in ours:
        before, idle, after = _idle(vm, busy.get(vm.name, []), cut)
        booting += before
        waiting += idle
        teardown += after
        if not busy.get(vm.name):
            wasted_boots += before
    jobs = len(keys)
    scoped = Observation(
        final.at,
        {k: final.jobs[k] for k in keys if k in final.jobs},
        [
            vm
            for vm in final.vms
            if (f := _pool_forge(vm.name, pool_forges)) and (forge is None or f == forge)
        ],
        [
            n
            for n in final.registrations
            if (f := _pool_forge(n, pool_forges)) and (forge is None or f == forge)
        ],
    )
    end = end_state(scoped, bound, overdue_after_s)
    per_job = (lambda v: round(v / jobs, 1)) if jobs else (lambda _v: None)
    return {
        "jobs": jobs,
        "ran": len(started),
        "lost": jobs - len(started),
        "p50_s": _r(percentile(waits, 0.5)),
        "p90_s": _r(percentile(waits, 0.9)),
        "max_s": _r(max(waits, default=None)),
        "p90_s_without_bursts": _r(percentile(steady, 0.9)),
        "warm_hits": len(hits),
        "warm_hit_share": round(len(hits) / jobs, 3) if jobs else None,
        "warm_hit_p50_s": _r(percentile(hits, 0.5)),
        "warm_hit_max_s": _r(max(hits, default=None)),
        "idle_vm_s_per_job": per_job((waiting + wasted_boots) * scale),
        "idle_vm_s_per_job_breakdown": {
            "online_waiting_for_a_job": per_job(waiting * scale),
            "boot_of_vms_that_ran_no_job": per_job(wasted_boots * scale),
            "not_counted_boot_of_vms_that_ran_a_job": per_job((booting - wasted_boots) * scale),
            "not_counted_after_the_last_job": per_job(teardown * scale),
        },
        "vms_created": len(ours),
        "vms_per_job": round(len(ours) / jobs, 3) if jobs else None,
        "duplicate_vms": vm_figures(scoped, scale)["duplicate_vms"],
        "vms_at_end": end.live,
        "vms_beyond_target_at_end": end.excess,
        "winding_down_at_end": end.winding_down,
        "leaked_vms": end.leaked,
        "leaked_runners": len(end.orphans),
        "leaked_runner_names": end.orphans[:20],
    }


def warm_hit_waits(record: ModeRecord, trace: Trace) -> list[float]:
    """The waits (simulated s) of the mode's jobs that found a warm runner."""
    return [
        (float(j.started_at) - float(j.queued_at)) * trace.time_scale
        for key in record.replay.jobs
        if (j := record.final.jobs.get(key)) is not None
        and j.started_at is not None
        and j.queued_at is not None
        and warm_hit(j)
    ]


def mode_figures(record: ModeRecord, settings: WarmSettings, trace: Trace) -> dict[str, Any]:
    pool_forges = {spec.name: spec.forge for spec in warm_pools(settings.max_runners)}
    bound = target_bound(record.mode, settings)
    # An idle runner retires once its idle streak outlasts the idle timeout and the busy-lag guard.
    overdue = max(TIMEOUTS["idle_timeout_s"], BUSY_LAG_GUARD_S) + 2 * settings.cadence.every_s + 5.0
    result = figures(record, trace, None, pool_forges=pool_forges, bound=bound, overdue_after_s=overdue)
    result["by_forge"] = {
        forge: figures(record, trace, forge, pool_forges=pool_forges, bound=bound, overdue_after_s=overdue)
        for forge in FORGES
    }
    result["warm_setting"] = record.warm
    if record.window is not None:
        result["schedule_window"] = record.window.describe(trace)
    result["target_bound_at_end_per_pool"] = bound
    if record.mode == "auto":
        result["auto_idle_budget_vm_hours_per_day"] = settings.auto_budget_vm_hours
    result["costs_until_s"] = round((record.cut.at - record.day_starts_at) * trace.time_scale, 1)
    result["queued_late_max_s"] = round(record.replay.late_s * trace.time_scale, 1)
    result["reconciler"] = settings.cadence.describe(TIMEOUTS["boot_timeout_s"]) | record.tally
    result["phases_ended"] = record.ended
    result["wall_s"] = record.wall_s
    return result


# -- the whole run ------------------------------------------------------------------------------


async def run_warm(settings: WarmSettings, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = progress or (lambda _line: None)
    started = time.monotonic()
    trace = settings.trace()
    deadline = time.time() + settings.max_seconds
    say(
        f"warm: {trace.jobs()} jobs a day over {trace.span_sim_s / 3600:g} simulated h "
        f"({trace.span_real_s:.0f} real s at time scale {settings.time_scale:g}); "
        f"modes {', '.join(settings.modes)}"
    )
    modes: dict[str, dict[str, Any]] = {}
    hits: list[float] = []  # every warm hit's wait, in any mode
    for mode in settings.modes:
        left = len(settings.modes) - len(modes)
        budget = (deadline - time.time()) / left
        try:
            record = await run_mode(mode, settings, trace, time.time() + budget, say)
        except Exception as error:  # a mode the service does not support (yet): say so, go on
            say(f"[{mode}] failed: {error!r}")
            modes[mode] = {
                "error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            }
            continue
        modes[mode] = mode_figures(record, settings, trace)
        hits += warm_hit_waits(record, trace)
    result: dict[str, Any] = {
        "trace": trace.describe()
        | {
            "reconcile_every_sim_s": round(settings.cadence.every_s * settings.time_scale, 1),
            "guest_poll_sim_s": settings.guest_poll_s,
            "pools": {spec.name: spec.forge for spec in warm_pools(settings.max_runners)},
            "max_runners": settings.max_runners,
            "timeouts_real_s": TIMEOUTS,
        },
        "modes": modes,
        # Over every job of every mode that found a warm runner (each job counts once).
        "warm_hit_p50_s": _r(percentile(hits, 0.5)),
        "warm_hits": len(hits),
        "goals": goals(modes),
        "wall_s": round(time.monotonic() - started, 1),
    }
    if settings.plot is not None:
        result["plot"] = str(plot(result, settings.plot))
    return result


def goals(modes: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    auto = modes.get("auto", {})
    hit = [m["warm_hit_p50_s"] for m in modes.values() if m.get("warm_hit_p50_s") is not None]
    return {
        **GOALS,
        "warm_hit_p50_met": all(v < GOALS["warm_hit_p50_under_s"] for v in hit) if hit else None,
        "auto_p90_met": None if auto.get("p90_s") is None else auto["p90_s"] < GOALS["auto_p90_under_s"],
        "auto_idle_met": None
        if auto.get("idle_vm_s_per_job") is None
        else auto["idle_vm_s_per_job"] < GOALS["auto_idle_vm_s_per_job_under"],
    }


def clean(result: Mapping[str, Any]) -> bool:
    """Every mode ran, and none lost a job, duplicated a VM or leaked."""
    return all(
        "error" not in m and not (m["lost"] or m["duplicate_vms"] or m["leaked_vms"] or m["leaked_runners"])
        for m in result["modes"].values()
    )


# -- the chart -----------------------------------------------------------------------------------


def plot(result: Mapping[str, Any], path: Path) -> Path:
    """Wait (p50 and p90) against idle cost per job, one point pair per mode, labelled."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(
            "--plot needs matplotlib: .venv/bin/python -m pip install -c requirements-dev.txt matplotlib"
        ) from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7.5, 5.0))
    shown = [
        (mode, m) for mode, m in result["modes"].items() if "error" not in m and m.get("p90_s") is not None
    ]
    for i, (mode, m) in enumerate(sorted(shown, key=lambda item: item[1]["idle_vm_s_per_job"])):
        x, p50, p90 = m["idle_vm_s_per_job"], m["p50_s"], m["p90_s"]
        axes.plot([x, x], [p50, p90], color="0.7", linewidth=1, zorder=1)
        axes.scatter([x], [p50], marker="o", color="tab:blue", zorder=2)
        axes.scatter([x], [p90], marker="^", color="tab:red", zorder=2)
        # Neighbours' labels alternate above and below their p90 point, so close modes stay legible.
        axes.annotate(
            f"{mode}\np50 {p50:g} s\np90 {p90:g} s",
            (x, p90),
            textcoords="offset points",
            xytext=(6, 6 if i % 2 == 0 else -40),
            fontsize="small",
        )
    xs = [m["idle_vm_s_per_job"] for _, m in shown] or [1.0]
    ys = [m["p90_s"] for _, m in shown] or [1.0]
    axes.scatter([], [], marker="o", color="tab:blue", label="p50 wait")
    axes.scatter([], [], marker="^", color="tab:red", label="p90 wait")
    axes.axhline(
        GOALS["auto_p90_under_s"], color="tab:red", linestyle=":", linewidth=1, label="p90 goal (15 s)"
    )
    axes.axvline(
        GOALS["auto_idle_vm_s_per_job_under"],
        color="0.4",
        linestyle=":",
        linewidth=1,
        label="idle goal (60 s/job)",
    )
    trace = result["trace"]
    axes.set_xlabel("idle VM-seconds per job (simulated; online waiting for a job, or booted for none)")
    axes.set_ylabel("queued -> running (simulated s)")
    axes.set_title(
        f"Warm runners: {trace['jobs']} jobs over a day of {trace['simulated_span_h']:g} simulated h, "
        "both forges"
    )
    axes.set_xlim(0, max(*xs, GOALS["auto_idle_vm_s_per_job_under"]) * 1.25)
    axes.set_ylim(0, max(*ys, GOALS["auto_p90_under_s"]) * 1.2)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    path = path.resolve()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path
