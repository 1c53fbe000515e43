"""What both forges' simulators share: their configuration's common part, route classes built on a
context, the scheduler's bookkeeping, serving on a BackgroundLoop, the `/_sim/...` control routes
other processes drive them with, and the webhook faults, delivery log and counters tests read.

A simulator's state belongs to its loop; its public methods may be called from any thread.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import inspect
import logging
import random
import ssl
import types
import typing
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from simulator.clock import SimClock
from simulator.http import HttpError, int_param, json_response
from simulator.server import BackgroundLoop, TaskSet
from simulator.webhooks import WebhookFaults, WebhookPipeline

P = ParamSpec("P")
T = TypeVar("T")
CtxT = TypeVar("CtxT")
ConfigT = TypeVar("ConfigT", bound="ForgeSimConfig")
DirectoryT = TypeVar("DirectoryT")
JobT = TypeVar("JobT")
RunnerT = TypeVar("RunnerT")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForgeSimConfig:
    # Durations are simulated seconds (scaled by the SimClock) unless they say "real".
    job_duration_s: float = 60.0
    webhook_latency_s: float = 0.2
    # Real seconds a webhook receiver gets to answer (both forges' default: 10 s).
    webhook_timeout_s: float = 10.0
    faults: WebhookFaults = field(default_factory=WebhookFaults)
    # The delivery log keeps the newest `max_deliveries_kept` attempts, for `delivery_retention_s`
    # simulated seconds (None: no limit); each forge sets its own.
    max_deliveries_kept: int | None = None
    delivery_retention_s: float | None = None
    seed: int | None = None


class _Model(Protocol):
    def snapshot(self) -> dict[str, Any]: ...


def invalid(message: str) -> HttpError:
    """What the control routes answer a request they cannot carry out."""
    return HttpError(422, message)


def call_with_json(method: Callable[..., T], body: Mapping[str, Any]) -> T:
    """`method(**body)` for a control request, each field of the type the method's signature gives it
    (422 for a field unknown, missing or of another type): one signature for both ways in."""
    hints = typing.get_type_hints(method)
    parameters = inspect.signature(method).parameters
    unknown = set(body) - set(parameters)
    if unknown:
        raise invalid(f"unknown fields {sorted(unknown)}")
    for name, parameter in parameters.items():
        if name not in body and parameter.default is inspect.Parameter.empty:
            raise invalid(f"'{name}' is required")
        if name in body and not _fits(body[name], hints[name]):
            hint = str(hints[name]).replace("collections.abc.", "").replace("typing.", "")
            raise invalid(f"'{name}' must be {hint}")
    return method(**body)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value stands for an argument of type `hint` (the simple types methods here take)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_fits(value, arg) for arg in args)
    if origin is collections.abc.Sequence:
        return isinstance(value, list) and all(_fits(item, args[0]) for item in value)
    if origin is tuple:
        return isinstance(value, tuple) and len(value) == len(args) and all(map(_fits, value, args))
    if origin is collections.abc.Mapping:
        return isinstance(value, dict)
    if hint in (int, float):  # JSON has no integer type of its own; a boolean is no number
        return isinstance(value, int if hint is int else int | float) and not isinstance(value, bool)
    return value is None if hint is type(None) else isinstance(value, hint)


def plain_fields(
    item: Any, *, hide: Collection[str] = (), rename: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A model's dataclass fields for its snapshot: tuples as lists, `hide` (objects, secrets) left
    out, some keys renamed; the model adds what it derives."""
    renamed = rename or {}
    found: dict[str, Any] = {}
    for field_ in dataclasses.fields(item):
        if field_.name not in hide:
            value = getattr(item, field_.name)
            found[renamed.get(field_.name, field_.name)] = list(value) if isinstance(value, tuple) else value
    return found


class Routes(ABC, Generic[CtxT]):
    """A group of a forge's REST routes, built on the pieces of the simulator they share."""

    def __init__(self, ctx: CtxT) -> None:
        self._ctx = ctx

    @abstractmethod
    def routes(self) -> list[web.RouteDef]: ...


class ForgeService(ABC, Generic[ConfigT, DirectoryT, JobT, RunnerT]):
    """What both forges' schedulers keep: every runner registration and job by id, their background
    tasks, and the sink each job event goes to."""

    def __init__(
        self,
        *,
        clock: SimClock,
        config: ConfigT,
        directory: DirectoryT,
        stats: Counter[str],
        on_job_event: Callable[..., None],
        rng: random.Random,
    ) -> None:
        self._clock = clock
        self._config = config
        self._directory = directory
        self._stats = stats
        self._on_job_event = on_job_event
        self._rng = rng
        self._runners: dict[int, RunnerT] = {}
        self._jobs: dict[int, JobT] = {}
        self._tasks = TaskSet(f"simulated {type(self).__name__}")

    @abstractmethod
    def _missing(self, what: str) -> HttpError:
        """The forge's 404 for an unknown job or runner."""

    def job(self, job_id: int) -> JobT:
        job = self._jobs.get(job_id)
        if job is None:
            raise self._missing("Job")
        return job

    def all_jobs(self) -> list[JobT]:
        return list(self._jobs.values())

    def all_runners(self) -> list[RunnerT]:
        return list(self._runners.values())

    def shutdown(self) -> None:
        self._tasks.cancel()

    def _emit(self, *event: Any) -> None:
        try:
            self._on_job_event(*event)
        except Exception:
            # A broken sink must not wedge the scheduler's state machine.
            log.exception("job event %s could not be published", event)


@dataclass(frozen=True)
class Control:
    """A request to a control route: its JSON body, and the ids in its path."""

    request: web.Request
    body: dict[str, Any]

    def id(self, name: str) -> int:
        return int_param(self.request, name, HttpError(404, "Not Found"))


class ForgeSimulator(ABC):
    NAME: ClassVar[str]
    # Counters that read 0 until they first count.
    STAT_NAMES: ClassVar[tuple[str, ...]]
    # The forge's REST routes, each class built on `context`.
    ROUTES: ClassVar[tuple[type[Routes[Any]], ...]]
    SENDER: ClassVar[type[WebhookPipeline[Any, Any]]]
    SERVICE: ClassVar[type[ForgeService[Any, Any, Any, Any]]]
    webhooks: WebhookPipeline[Any, Any]
    service: ForgeService[Any, Any, Any, Any]
    context: Any
    # Publishes a job's events as the forge's webhooks (the scheduler calls it).
    _publish_job_event: Callable[..., None]

    def __init__(
        self, loop: BackgroundLoop, *, clock: SimClock, config: ForgeSimConfig, directory: Any
    ) -> None:
        self._loop = loop
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self.rng = random.Random(config.seed)
        self.stopped = False
        self._base_url: str | None = None
        self.webhooks = self.SENDER(clock=clock, config=config, stats=self.counters, rng=self.rng)
        self.service = self.SERVICE(
            clock=clock,
            config=config,
            directory=directory,
            stats=self.counters,
            on_job_event=self._publish_job_event,
            rng=self.rng,
        )

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError(f"the {self.NAME} simulator has not been started")
        return self._base_url

    def start(self, *, ssl_context: ssl.SSLContext | None = None, port: int = 0) -> str:
        """Serve on 127.0.0.1 and return the base URL the forge's client library is given."""
        if self._base_url is None:
            base_url = self._loop.serve(self._app(), ssl_context=ssl_context, port=port)
            self._loop.call(self._open(base_url))
            self._base_url = base_url
        return self._base_url

    def stop(self) -> None:
        """Stop scheduling and delivering; the listener is released when the BackgroundLoop closes."""
        if self._base_url is not None:
            self._loop.call(self._close())

    def _on_loop(self, fn: Callable[[], T]) -> T:
        return self._loop.run(fn)

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors(), self._refuse_when_stopped, self._limits()])
        for routes in self.ROUTES:
            app.add_routes(routes(self.context).routes())
        app.add_routes(self._control_routes())
        return app

    @abstractmethod
    def _errors(self) -> Middleware:
        """The middleware that renders the forge's errors (`simulator.http.error_middleware`)."""

    @abstractmethod
    def _limits(self) -> Middleware:
        """The middleware that meters or throttles the forge's REST API."""

    @abstractmethod
    async def _read_body(self, request: web.Request) -> dict[str, Any]: ...

    @abstractmethod
    async def _open(self, base_url: str) -> None: ...

    async def _close(self) -> None:
        self.stopped = True
        self.service.shutdown()
        await self.webhooks.close()

    @web.middleware
    async def _refuse_when_stopped(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.stopped:
            raise self._stopped_error()
        return await handler(request)

    @abstractmethod
    def _stopped_error(self) -> HttpError: ...

    # -- what tests read and change on both forges ----------------------------------------------
    @abstractmethod
    def cancel_job(self, job_id: int) -> dict[str, Any]: ...

    def jobs(self) -> list[dict[str, Any]]:
        return self._on_loop(lambda: [job.snapshot() for job in self.service.all_jobs()])

    def runners(self) -> list[dict[str, Any]]:
        """Every registration ever made, removed ones included."""
        return self._on_loop(lambda: [self._runner_snapshot(r) for r in self.service.all_runners()])

    def _runner_snapshot(self, runner: Any) -> dict[str, Any]:
        snapshot: dict[str, Any] = runner.snapshot()
        return snapshot

    def job(self, job_id: int) -> dict[str, Any]:
        return next(j for j in self.jobs() if j["id"] == job_id)

    def runner(self, runner_id: int) -> dict[str, Any]:
        return next(r for r in self.runners() if r["id"] == runner_id)

    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt still retained, oldest first."""
        return self._on_loop(lambda: [d.snapshot() for d in self.webhooks.deliveries()])

    def redeliver(self, delivery_id: int) -> None:
        """Send a recorded delivery again, as the same event."""
        self._on_loop(lambda: self.webhooks.redeliver(delivery_id))

    def faults(self) -> WebhookFaults:
        return self._on_loop(lambda: self.webhooks.faults)

    def set_faults(self, faults: WebhookFaults | None = None, **changes: Any) -> WebhookFaults:
        """Replace the delivery faults, or change some of them (`set_faults(drop_probability=1.0)`)."""

        def apply() -> WebhookFaults:
            updated = dataclasses.replace(faults or self.webhooks.faults, **changes)
            self.webhooks.set_faults(updated)
            return updated

        return self._on_loop(apply)

    def stats(self) -> dict[str, int]:
        return self._on_loop(lambda: {**dict.fromkeys(self.STAT_NAMES, 0), **self.counters})

    # -- the same over HTTP, for other processes (no authentication) -----------------------------
    def _control(
        self, method: str, path: str, answer: Callable[[Control], Any], status: int = 200
    ) -> web.RouteDef:
        """A control route: `answer` (on the loop) gives the JSON body; 204 answers have none."""

        async def handler(request: web.Request) -> web.Response:
            result = answer(Control(request, await self._read_body(request)))
            if status == 204:
                return web.Response(status=status)
            return json_response({} if result is None else result, status=status)

        return web.route(method, path, handler)

    def _control_routes(self) -> list[web.RouteDef]:
        route = self._control
        return [
            route("GET", "/_sim/jobs", lambda c: self.jobs()),
            route("POST", "/_sim/jobs/{job_id}/cancel", lambda c: self.cancel_job(c.id("job_id"))),
            route("GET", "/_sim/runners", lambda c: self.runners()),
            route("GET", "/_sim/deliveries", lambda c: self.deliveries()),
            route(
                "POST",
                "/_sim/deliveries/{delivery_id}/redeliver",
                lambda c: self.redeliver(c.id("delivery_id")),
                202,
            ),
            route("GET", "/_sim/stats", lambda c: self.stats()),
            route("GET", "/_sim/faults", lambda c: asdict(self.faults())),
            route("POST", "/_sim/faults", lambda c: asdict(self.set_faults(_updated(self.faults(), c.body)))),
            *self._forge_control_routes(),
        ]

    @abstractmethod
    def _forge_control_routes(self) -> list[web.RouteDef]:
        """The control routes of one forge: its hooks, its way of making jobs, ..."""


def _updated(faults: WebhookFaults, changes: Mapping[str, Any]) -> WebhookFaults:
    try:
        return faults.updated(changes)
    except ValueError as exc:
        raise invalid(str(exc)) from exc


def threadsafe(
    method: Callable[Concatenate[Any, P], _Model],
) -> Callable[Concatenate[ForgeSimulator, P], dict[str, Any]]:
    """A simulator method that runs `method` of its scheduler on the loop and answers with a snapshot
    of the result; callers see the scheduler method's own signature and docstring."""

    @functools.wraps(method)
    def call(sim: ForgeSimulator, /, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        return sim._on_loop(lambda: method(sim.service, *args, **kwargs).snapshot())

    return call
