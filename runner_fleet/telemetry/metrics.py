"""The fleet's instruments, and the one small function the core calls for each event.

Meter `runner_fleet`; names, units (UCUM) and attributes are a contract (the workbook and alerts in
infra/ read them), listed in `INSTRUMENTS` and the README. Attributes are low-cardinality: a pool,
a forge, an outcome, a state, a code, a reason; never a job id, a runner name or a repository (spans
carry those). Values that come from outside (Azure's error codes, a job's conclusion) are bounded:
a few dozen distinct values per attribute, then `other`.

The gauges are observed, not set: the reconciler (runners, warm target and ready, queue depths), the
provisioning gates (preflight) and the forge clients (request budget) note what they last saw in a
small in-process snapshot, and the gauges report it while it is fresh. A snapshot not renewed for
`FRESH_S` (the reconciler moved to another instance, say) is no longer reported.

Every function returns at once while telemetry is off (`provider.enabled()`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from runner_fleet.telemetry import provider

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation

Phase = Literal[
    "webhook-to-queue", "queue-to-create", "create-to-running", "running-to-online", "online-to-started"
]
PHASES: tuple[Phase, ...] = (
    "webhook-to-queue",
    "queue-to-create",
    "create-to-running",
    "running-to-online",
    "online-to-started",
)
RunnerState = Literal["creating", "booting", "idle", "busy", "retiring"]
RUNNER_STATES: tuple[RunnerState, ...] = ("creating", "booting", "idle", "busy", "retiring")

# A gauge's snapshot older than this is not reported (its source stopped renewing it).
FRESH_S = 300.0


@dataclass(frozen=True)
class Instrument:
    name: str
    kind: Literal["counter", "histogram", "gauge"]
    unit: str
    attributes: tuple[str, ...]
    description: str


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("runner_fleet.jobs.queued", "counter", "{job}", ("forge", "pool"),
               "Jobs a webhook queued for a runner (GitLab: pool empty, its tags are read later)"),
    Instrument("runner_fleet.jobs.started", "counter", "{job}", ("forge", "pool", "warm"),
               "Jobs that started on one of our runners; warm: on a runner made for the pool"),
    Instrument("runner_fleet.jobs.completed", "counter", "{job}", ("forge", "pool", "outcome"),
               "Jobs our runners ran, released, by conclusion"),
    Instrument("runner_fleet.job.wait", "histogram", "s", ("forge", "pool", "warm"),
               "Queued to running, as the forge reports it"),
    Instrument("runner_fleet.job.startup", "histogram", "s", ("pool", "phase"),
               "The phases from webhook to job start"),
    Instrument("runner_fleet.jobs.waited_with_capacity", "counter", "{job}", ("pool",),
               "Jobs waiting longer than WAITED_WITH_CAPACITY_S while their pool had room"),
    Instrument("runner_fleet.runners", "gauge", "{runner}", ("pool", "state"),
               "Runners by state, as the last reconcile round saw them"),
    Instrument("runner_fleet.warm.target", "gauge", "{runner}", ("pool",),
               "The warm target in force"),
    Instrument("runner_fleet.warm.ready", "gauge", "{runner}", ("pool",),
               "Runners online and waiting for a job"),
    Instrument("runner_fleet.vm.create.refusals", "counter", "{refusal}", ("pool", "code"),
               "VM creates Azure refused or failed (capacity, quota, SKU), by Azure's code"),
    Instrument("runner_fleet.reconcile.actions", "counter", "{action}", ("action", "reason"),
               "What the reconciler did, and why"),
    Instrument("runner_fleet.webhooks.rejected", "counter", "{webhook}", ("forge", "reason"),
               "Webhooks answered with an error"),
    Instrument("runner_fleet.webhooks.accepted", "counter", "{webhook}", ("forge", "queue"),
               "Webhooks accepted for work (202), by the queue their work went to"),
    Instrument("runner_fleet.preflight.status", "gauge", "1", ("pool", "check"),
               "The provisioning gates' last verdict per check: 0 pass, 1 warn, 2 fail"),
    Instrument("runner_fleet.forge.api.remaining", "gauge", "{request}", ("forge",),
               "Requests left in the forge's rate-limit window (the lowest of its credentials)"),
    Instrument("runner_fleet.vm.time", "counter", "s", ("pool", "spot"),
               "VM time of runner VMs gone (released, or deleted by the reconciler)"),
    Instrument("runner_fleet.vm.cost", "counter", "{USD}", ("pool", "spot"),
               "Their cost, where the price table prices them in US dollars"),
    Instrument("runner_fleet.queue.depth", "gauge", "{message}", ("queue",),
               "Messages in each work queue, as the last reconcile round read it"),
)  # fmt: skip

# Seconds: a webhook's own work is milliseconds, a job's wait minutes.
_PHASE_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    20,
    30,
    45,
    60,
    90,
    120,
    180,
    300,
    600,
)
_WAIT_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)

# --- bounded attribute values -------------------------------------------------------------------
_MAX_VALUES = 48
_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")
_seen_values: dict[str, set[str]] = {}
_values_lock = threading.Lock()


def bounded(kind: str, value: str | None) -> str:
    """`value` if it is a short plain word and one of the first `_MAX_VALUES` seen for `kind`, else
    `other`: whatever reaches an attribute from outside cannot grow the metric's series."""
    if not value:
        return ""
    if _VALUE.fullmatch(value) is None:
        return "other"
    with _values_lock:
        known = _seen_values.setdefault(kind, set())
        if value in known:
            return value
        if len(known) >= _MAX_VALUES:
            return "other"
        known.add(value)
        return value


# --- what the gauges report ---------------------------------------------------------------------
@dataclass
class Seen:
    """The in-process snapshot the gauges read; each part stamped with when it was noted."""

    runners: dict[tuple[str, str], int] = field(default_factory=dict)
    warm_target: dict[str, int] = field(default_factory=dict)
    warm_ready: dict[str, int] = field(default_factory=dict)
    fleet_at: float = 0.0
    queue_depth: dict[str, tuple[int, float]] = field(default_factory=dict)
    preflight: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    forge_remaining: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)


SEEN = Seen()
_PREFLIGHT_LEVEL = {"pass": 0, "warn": 1, "fail": 2}


def forget_seen() -> None:
    """Clear the snapshot (tests)."""
    global SEEN  # noqa: PLW0603 - one snapshot per process, replaced whole
    SEEN = Seen()


def _fresh(at: float, now: float) -> bool:
    return now - at <= FRESH_S


def _observe_runners(options: CallbackOptions) -> Iterator[Observation]:
    from opentelemetry.metrics import Observation

    seen, now = SEEN, time.time()
    if _fresh(seen.fleet_at, now):
        for (pool, state), count in sorted(seen.runners.items()):
            yield Observation(count, {"pool": pool, "state": state})


def _observer(part: str, key: str) -> Any:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        from opentelemetry.metrics import Observation

        seen, now = SEEN, time.time()
        if _fresh(seen.fleet_at, now):
            for name, value in sorted(getattr(seen, part).items()):
                yield Observation(value, {key: name})

    return observe


def _observe_stamped(part: str, keys: tuple[str, ...], lowest_by: int | None = None) -> Any:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        from opentelemetry.metrics import Observation

        now = time.time()
        values: dict[tuple[str, ...], int] = {}
        for name, (value, at) in list(getattr(SEEN, part).items()):
            if not _fresh(at, now):
                continue
            attrs = (name,) if isinstance(name, str) else tuple(name)
            if lowest_by is not None:
                attrs = attrs[:lowest_by]
            values[attrs] = min(value, values.get(attrs, value)) if lowest_by is not None else value
        for attrs, value in sorted(values.items()):
            yield Observation(value, dict(zip(keys, attrs, strict=True)))

    return observe


# --- the instruments ----------------------------------------------------------------------------
class _Instruments:
    def __init__(self) -> None:
        meter = provider.meter()
        by_name = {spec.name: spec for spec in INSTRUMENTS}

        def counter(name: str) -> Counter:
            spec = by_name[name]
            return meter.create_counter(name, spec.unit, spec.description)

        def histogram(name: str, buckets: Iterable[float]) -> Histogram:
            spec = by_name[name]
            return meter.create_histogram(
                name, spec.unit, spec.description, explicit_bucket_boundaries_advisory=list(buckets)
            )

        def gauge(name: str, callback: Any) -> None:
            spec = by_name[name]
            meter.create_observable_gauge(name, [callback], spec.unit, spec.description)

        self.jobs_queued = counter("runner_fleet.jobs.queued")
        self.jobs_started = counter("runner_fleet.jobs.started")
        self.jobs_completed = counter("runner_fleet.jobs.completed")
        self.job_wait = histogram("runner_fleet.job.wait", _WAIT_BUCKETS)
        self.job_startup = histogram("runner_fleet.job.startup", _PHASE_BUCKETS)
        self.waited_with_capacity = counter("runner_fleet.jobs.waited_with_capacity")
        self.refusals = counter("runner_fleet.vm.create.refusals")
        self.reconcile_actions = counter("runner_fleet.reconcile.actions")
        self.webhooks_rejected = counter("runner_fleet.webhooks.rejected")
        self.webhooks_accepted = counter("runner_fleet.webhooks.accepted")
        self.vm_time = counter("runner_fleet.vm.time")
        self.vm_cost = counter("runner_fleet.vm.cost")
        gauge("runner_fleet.runners", _observe_runners)
        gauge("runner_fleet.warm.target", _observer("warm_target", "pool"))
        gauge("runner_fleet.warm.ready", _observer("warm_ready", "pool"))
        gauge("runner_fleet.preflight.status", _observe_stamped("preflight", ("pool", "check")))
        gauge(
            "runner_fleet.forge.api.remaining", _observe_stamped("forge_remaining", ("forge",), lowest_by=1)
        )
        gauge("runner_fleet.queue.depth", _observe_stamped("queue_depth", ("queue",)))


_made: tuple[int, _Instruments] | None = None
_made_lock = threading.Lock()


def _instruments() -> _Instruments:
    global _made  # noqa: PLW0603 - the instruments of the current provider, made once per provider
    made, generation = _made, provider.generation()
    if made is not None and made[0] == generation:
        return made[1]
    with _made_lock:
        if _made is None or _made[0] != generation:
            _made = (generation, _Instruments())
        return _made[1]


def enabled() -> bool:
    return provider.enabled()


# --- the events ---------------------------------------------------------------------------------
_REJECTED = {400: "malformed", 401: "unauthenticated", 413: "too-large", 500: "error", 503: "enqueue-failed"}


def webhook_answered(forge: str, status: int, reason: str, queued: str | None = None) -> None:
    """A webhook's answer: accepted work (202) or an error (4xx/5xx, by a reason code)."""
    if not provider.enabled():
        return
    if status == 202:
        _instruments().webhooks_accepted.add(1, {"forge": forge, "queue": bounded("queue", queued)})
    elif status >= 400:
        code = _REJECTED.get(status, "refused")
        if status == 401:
            code = "bad-token" if "token" in reason else "bad-signature"
        _instruments().webhooks_rejected.add(1, {"forge": forge, "reason": code})


def job_accepted(forge: str, pool: str, received_ns: int) -> None:
    """A webhook queued a job's provision: counted, and how long the webhook took to queue it."""
    if not provider.enabled():
        return
    instruments = _instruments()
    instruments.jobs_queued.add(1, {"forge": forge, "pool": pool})
    took_s = (time.time_ns() - received_ns) / 1e9
    instruments.job_startup.record(max(0.0, took_s), {"pool": pool, "phase": "webhook-to-queue"})


def job_started(forge: str, pool: str, *, warm: bool, wait_s: float | None) -> None:
    """A job started on a runner of ours; `wait_s`: queued to running, when known."""
    if not provider.enabled():
        return
    attributes = {"forge": forge, "pool": pool, "warm": "true" if warm else "false"}
    instruments = _instruments()
    instruments.jobs_started.add(1, attributes)
    if wait_s is not None and wait_s >= 0:
        instruments.job_wait.record(wait_s, attributes)


_OUTCOMES = {"failed": "failure", "canceled": "cancelled"}


def job_completed(forge: str, pool: str, conclusion: str | None) -> None:
    """A job our runner ran was released; GitLab's `failed`/`canceled` read as GitHub's words."""
    if provider.enabled():
        outcome = bounded("outcome", _OUTCOMES.get(conclusion or "", conclusion) or "unknown")
        _instruments().jobs_completed.add(1, {"forge": forge, "pool": pool, "outcome": outcome})


def startup_phase(pool: str, phase: Phase, seconds: float) -> None:
    if provider.enabled() and seconds >= 0:
        _instruments().job_startup.record(seconds, {"pool": pool, "phase": phase})


def vm_create_refused(pool: str, code: str) -> None:
    if provider.enabled():
        _instruments().refusals.add(1, {"pool": pool, "code": bounded("code", code)})


def reconcile_action(action: str, reason: str, count: int = 1) -> None:
    if provider.enabled() and count > 0:
        attributes = {"action": bounded("action", action), "reason": bounded("reason", reason)}
        _instruments().reconcile_actions.add(count, attributes)


def jobs_waited_with_capacity(pool: str, count: int) -> None:
    if provider.enabled() and count > 0:
        _instruments().waited_with_capacity.add(count, {"pool": pool})


class VmUsage(Protocol):
    """What a runner VM used, as its usage row says (`runner_fleet.state.usage.Usage`)."""

    @property
    def pool(self) -> str: ...
    @property
    def spot(self) -> bool: ...
    @property
    def vm_seconds(self) -> float: ...
    @property
    def cost(self) -> float | None: ...
    @property
    def currency(self) -> str | None: ...


def vm_used(usage: VmUsage | None) -> None:
    """A runner VM gone, its usage row just written (once per VM): its time, and its cost where a
    price in US dollars was known (a price table in another currency adds no cost here)."""
    if usage is None or not provider.enabled():
        return
    attributes = {"pool": usage.pool, "spot": "true" if usage.spot else "false"}
    instruments = _instruments()
    if usage.vm_seconds > 0:
        instruments.vm_time.add(usage.vm_seconds, attributes)
    if usage.cost is not None and usage.cost > 0 and usage.currency == "USD":
        instruments.vm_cost.add(usage.cost, attributes)


# --- what the gauges read -----------------------------------------------------------------------
def fleet_seen(
    runners: Mapping[str, Mapping[str, int]],
    warm_target: Mapping[str, int],
    warm_ready: Mapping[str, int],
    *,
    at: float | None = None,
) -> None:
    """What a reconcile round saw: per pool its runners by state, its warm target and ready runners."""
    if not provider.enabled():
        return
    _instruments()  # the gauges exist from the first round on
    seen = SEEN
    seen.runners = {(pool, state): n for pool, states in runners.items() for state, n in states.items()}
    seen.warm_target, seen.warm_ready = dict(warm_target), dict(warm_ready)
    seen.fleet_at = time.time() if at is None else at


def queue_depth_seen(queue: str, depth: int) -> None:
    if provider.enabled():
        _instruments()
        SEEN.queue_depth[queue] = (depth, time.time())


def preflight_seen(pool: str, checks: Iterable[tuple[str, str]]) -> None:
    """A gate's report on a pool: (check name, pass|warn|fail) per check."""
    if not provider.enabled():
        return
    _instruments()
    now = time.time()
    for check, status in checks:
        SEEN.preflight[(pool, bounded("check", check))] = (_PREFLIGHT_LEVEL.get(status, 2), now)


def forge_remaining_seen(forge: str, credential: str, remaining: int) -> None:
    """A forge answer's rate-limit header; the gauge reports the lowest of the forge's credentials."""
    if provider.enabled():
        _instruments()
        SEEN.forge_remaining[(forge, credential)] = (remaining, time.time())
