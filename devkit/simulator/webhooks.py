"""What the forges' webhook senders share: hooks, per-job delivery lanes, injected faults, the POST
and the log of every attempt.

Deliveries about one job go out one after another in a lane of their own, so they arrive in order
unless a fault reorders them; different jobs do not wait for each other. Like both forges, a sender
never retries a failed delivery by itself: only `redeliver` (GitHub's "Redeliver", GitLab's "Resend
request") sends one again, as the same event (GitHub's delivery guid, GitLab's event UUID and
Idempotency-Key). Each forge's sender says what a delivery carries: its headers and its fields.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import Field, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import aiohttp

from simulator.clock import SimClock
from simulator.server import TaskSet

if TYPE_CHECKING:
    from simulator.forge import ForgeSimConfig

STORED_RESPONSE_CHARS = 2048
# Header values a delivery's record never shows.
SECRET_HEADERS = frozenset({"X-Gitlab-Token"})
STAT_NAMES = (
    "webhook_attempts",
    "webhook_failures",
    "webhook_redeliveries",
    "webhooks_dropped",
    "webhooks_duplicated",
    "webhooks_reordered",
)


@dataclass(frozen=True)
class WebhookFaults:
    """Misbehaviour of the delivery pipeline, for soak tests of the receiving side."""

    drop_probability: float = 0.0
    duplicate_probability: float = 0.0
    reorder_probability: float = 0.0
    # Simulated seconds added to every delivery's latency.
    extra_latency_s: float = 0.0
    # A held (reordered) delivery goes out after the hook's next delivery, or after this long.
    reorder_max_hold_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("drop_probability", "duplicate_probability", "reorder_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.extra_latency_s < 0 or self.reorder_max_hold_s < 0:
            raise ValueError("latencies must not be negative")

    def updated(self, changes: Mapping[str, Any]) -> WebhookFaults:
        """These faults with some settings changed (a control request's body); ValueError says why not."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        try:
            return replace(self, **changes)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc


@dataclass(frozen=True)
class PostResult:
    status: str  # what the forge's delivery log shows: "OK", "Invalid HTTP Response: 500", "timed out"
    status_code: int  # 0 when no HTTP answer came back
    error: str | None
    headers: dict[str, str]
    body: str

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


DROPPED = PostResult("failed to connect to host", 0, "dropped by fault injection", {}, "")


class _Hook(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def url(self) -> str: ...


HookT = TypeVar("HookT", bound=_Hook)


class _Outgoing(Protocol):
    """A delivery waiting to be sent: a frozen dataclass with at least these fields; the others are
    the forge's (event, action, job, ...) and appear in the delivery's record."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def hook(self) -> _Hook: ...

    @property
    def body(self) -> bytes: ...

    @property
    def redelivery(self) -> bool: ...

    # "drop": recorded as a failed attempt without reaching the receiver; "duplicate": sent twice as
    # the same event.
    @property
    def fault(self) -> str | None: ...


OutgoingT = TypeVar("OutgoingT", bound=_Outgoing)


@dataclass(frozen=True)
class Delivery(Generic[OutgoingT]):
    """One attempt: what went out, with which headers, and what came back."""

    id: int
    outgoing: OutgoingT
    delivered_at: float
    duration: float
    request_headers: Mapping[str, str]
    result: PostResult

    @property
    def succeeded(self) -> bool:
        return self.result.succeeded

    def snapshot(self) -> dict[str, Any]:
        details = {f.name: getattr(self.outgoing, f.name) for f in fields(self.outgoing)}
        del details["hook"], details["body"]
        return {
            "id": self.id,
            "hook_id": self.outgoing.hook.id,
            "url": self.outgoing.hook.url,
            **details,
            "delivered_at": self.delivered_at,
            "duration": self.duration,
            "status": self.result.status,
            "status_code": self.result.status_code,
            "error": self.result.error,
            "request_headers": {
                name: "[REDACTED]" if name in SECRET_HEADERS else value
                for name, value in self.request_headers.items()
            },
            "response_body": self.result.body,
        }


@dataclass
class _Held(Generic[OutgoingT]):
    outgoing: OutgoingT
    lane: tuple[int, Hashable]
    timer: asyncio.TimerHandle


class WebhookPipeline(ABC, Generic[HookT, OutgoingT]):
    """Hooks, lanes, faults, the HTTP session and the delivery log; a forge's sender adds its headers."""

    # The first hook id and the first delivery id the forge hands out.
    FIRST_IDS: ClassVar[tuple[int, int]]

    def __init__(
        self, *, clock: SimClock, config: ForgeSimConfig, stats: Counter[str], rng: random.Random
    ) -> None:
        self._clock = clock
        self._config = config
        self._faults = config.faults
        self._stats = stats
        self._rng = rng
        self._hook_ids = itertools.count(self.FIRST_IDS[0])
        self._delivery_ids = itertools.count(self.FIRST_IDS[1])
        self._hooks: dict[int, HookT] = {}
        # Attempts by id, oldest first (what the forge's configuration says it keeps).
        self._log: dict[int, Delivery[OutgoingT]] = {}
        self._lanes: dict[tuple[int, Hashable], deque[OutgoingT]] = {}
        self._held: dict[int, _Held[OutgoingT]] = {}
        self._tasks = TaskSet("webhook delivery")
        self._session: aiohttp.ClientSession | None = None

    @abstractmethod
    def _missing(self, what: str) -> Exception:
        """What the forge answers for a hook or delivery it does not know."""

    @property
    def faults(self) -> WebhookFaults:
        return self._faults

    def set_faults(self, faults: WebhookFaults) -> None:
        self._faults = faults

    async def open(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._config.webhook_timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)

    async def close(self) -> None:
        for held in self._held.values():
            held.timer.cancel()
        self._held.clear()
        await self._tasks.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- hooks and the delivery log -------------------------------------------------------------
    @property
    def hooks(self) -> list[HookT]:
        return list(self._hooks.values())

    def _add_hook(self, make: Callable[[int], HookT]) -> HookT:
        hook = make(next(self._hook_ids))
        self._hooks[hook.id] = hook
        return hook

    def hook(self, hook_id: int) -> HookT:
        hook = self._hooks.get(hook_id)
        if hook is None:
            raise self._missing("Hook")
        return hook

    def deliveries(self) -> list[Delivery[OutgoingT]]:
        """Recorded attempts, oldest first."""
        self._forget_expired()
        return list(self._log.values())

    def delivery(self, delivery_id: int) -> Delivery[OutgoingT]:
        self._forget_expired()
        found = self._log.get(delivery_id)
        if found is None:
            raise self._missing("Delivery")
        return found

    def _forget_expired(self) -> None:
        if self._config.delivery_retention_s is not None:
            cutoff = self._clock.now() - self._clock.real(self._config.delivery_retention_s)
            for key in [k for k, d in self._log.items() if d.delivered_at < cutoff]:
                del self._log[key]

    def redeliver(self, delivery_id: int) -> None:
        """Send a recorded delivery again, as the same event, to its hook as the hook is now."""
        original = self.delivery(delivery_id).outgoing
        again = replace(original, hook=self.hook(original.hook.id), redelivery=True, fault=None)
        self._stats["webhook_redeliveries"] += 1
        self._tasks.spawn(self._attempt_after_latency(again))

    # -- what each forge's sender says ----------------------------------------------------------
    @abstractmethod
    def _headers(self, outgoing: OutgoingT) -> dict[str, str]:
        """The delivery's headers, signature included."""

    def _still_wanted(self, outgoing: OutgoingT) -> bool:
        """Checked when a delivery's turn comes (a hook may have been disabled meanwhile)."""
        return True

    def _answered(self, outgoing: OutgoingT, status_code: int) -> None:
        """What an attempt that was sent tells about its hook (status 0: no HTTP answer)."""

    # -- sending --------------------------------------------------------------------------------
    def _pick_fault(self) -> str | None:
        if self._rng.random() < self._faults.drop_probability:
            return "drop"
        if self._rng.random() < self._faults.duplicate_probability:
            return "duplicate"
        return None

    def _route(self, outgoing: OutgoingT, ordering_key: Hashable) -> None:
        """Queue a delivery in its lane; a reorder fault holds it back until the hook's next one."""
        lane = (outgoing.hook.id, ordering_key)
        held = self._held.pop(outgoing.hook.id, None)
        if held is None and self._rng.random() < self._faults.reorder_probability:
            timer = asyncio.get_running_loop().call_later(
                self._clock.real(self._faults.reorder_max_hold_s), self._release_held, outgoing.hook.id
            )
            self._held[outgoing.hook.id] = _Held(outgoing, lane, timer)
            self._stats["webhooks_reordered"] += 1
            return
        self._enqueue(lane, outgoing)
        if held is not None:
            held.timer.cancel()
            # Same lane as the delivery it was held for, so it goes out right after it.
            self._enqueue(lane, held.outgoing)

    def _release_held(self, hook_id: int) -> None:
        held = self._held.pop(hook_id, None)
        if held is not None:
            self._enqueue(held.lane, held.outgoing)

    def _enqueue(self, lane: tuple[int, Hashable], outgoing: OutgoingT) -> None:
        queue = self._lanes.get(lane)
        if queue is None:
            queue = self._lanes[lane] = deque()
            self._tasks.spawn(self._drain(lane, queue))
        queue.append(outgoing)

    async def _drain(self, lane: tuple[int, Hashable], queue: deque[OutgoingT]) -> None:
        try:
            while queue:
                await self._clock.sleep(self._config.webhook_latency_s + self._faults.extra_latency_s)
                outgoing = queue.popleft()
                if not self._still_wanted(outgoing):
                    continue
                await self._attempt(outgoing)
                if outgoing.fault == "duplicate":
                    self._stats["webhooks_duplicated"] += 1
                    await self._attempt(replace(outgoing, fault="duplicate-copy"))
        finally:
            if self._lanes.get(lane) is queue:
                del self._lanes[lane]

    async def _attempt_after_latency(self, outgoing: OutgoingT) -> None:
        await self._clock.sleep(self._config.webhook_latency_s)
        await self._attempt(outgoing)

    async def _attempt(self, outgoing: OutgoingT) -> None:
        """POST one delivery, or fail it without sending for a `drop` fault; count it and record it."""
        headers = self._headers(outgoing)
        delivered_at = self._clock.now()
        started = time.monotonic()
        if outgoing.fault == "drop":
            result = DROPPED
            self._stats["webhooks_dropped"] += 1
        else:
            result = await self._send(outgoing.hook.url, outgoing.body, headers)
            self._answered(outgoing, result.status_code)
        self._stats["webhook_attempts"] += 1
        if not result.succeeded:
            self._stats["webhook_failures"] += 1
        duration = round(time.monotonic() - started, 6)
        delivery = Delivery(next(self._delivery_ids), outgoing, delivered_at, duration, headers, result)
        self._log[delivery.id] = delivery
        kept = self._config.max_deliveries_kept
        if kept is not None and len(self._log) > kept:
            del self._log[next(iter(self._log))]

    async def _send(self, url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
        if self._session is None:
            return PostResult("failed to connect to host", 0, "sender is closed", {}, "")
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                text = (await response.read()).decode(errors="replace")[:STORED_RESPONSE_CHARS]
                ok = 200 <= response.status < 300
                status = "OK" if ok else f"Invalid HTTP Response: {response.status}"
                return PostResult(status, response.status, None, dict(response.headers), text)
        except TimeoutError:
            return PostResult("timed out", 0, "timed out", {}, "")
        except aiohttp.ClientError as exc:
            return PostResult("failed to connect to host", 0, f"{type(exc).__name__}: {exc}", {}, "")
