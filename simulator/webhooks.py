"""What the forges' webhook senders share: per-job delivery lanes, injected faults, and the POST.

Deliveries about one job go out one after another in a lane of their own, so they arrive in order
unless a fault reorders them; different jobs do not wait for each other. Each forge's sender says
what a delivery carries (headers, signature, the record it keeps) by implementing `_attempt`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Coroutine, Hashable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Generic, Protocol, TypeVar

import aiohttp

from simulator.clock import SimClock
from simulator.stats import Stats

log = logging.getLogger(__name__)

STORED_RESPONSE_CHARS = 2048


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


class _Outgoing(Protocol):
    """A delivery waiting to be sent: a frozen dataclass with at least these fields."""

    @property
    def hook(self) -> _Hook: ...

    @property
    def fault(self) -> str | None: ...


OutgoingT = TypeVar("OutgoingT", bound=_Outgoing)


@dataclass
class _Held(Generic[OutgoingT]):
    outgoing: OutgoingT
    lane: tuple[int, Hashable]
    timer: asyncio.TimerHandle


class WebhookPipeline(ABC, Generic[OutgoingT]):
    """Lanes, faults and the HTTP session; a forge's sender adds its hooks, headers and records."""

    def __init__(self, *, clock: SimClock, faults: WebhookFaults, stats: Stats, rng: random.Random) -> None:
        self._clock = clock
        self._faults = faults
        self._stats = stats
        self._rng = rng
        self._lanes: dict[tuple[int, Hashable], deque[OutgoingT]] = {}
        self._held: dict[int, _Held[OutgoingT]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    @property
    def faults(self) -> WebhookFaults:
        return self._faults

    def set_faults(self, faults: WebhookFaults) -> None:
        self._faults = faults

    def _open_session(self, timeout_s: float) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def close(self) -> None:
        for held in self._held.values():
            held.timer.cancel()
        self._held.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- what each forge's sender says ----------------------------------------------------------
    @abstractmethod
    def _latency_s(self) -> float:
        """Simulated seconds between an event and its delivery."""

    @abstractmethod
    async def _attempt(self, outgoing: OutgoingT) -> None:
        """Send one delivery (or fail it, for a `drop` fault) and keep its record."""

    def _still_wanted(self, outgoing: OutgoingT) -> bool:
        """Checked when a delivery's turn comes (a hook may have been disabled meanwhile)."""
        return True

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
            self._stats.incr("webhooks_reordered")
            return
        self._enqueue(lane, outgoing)
        if held is not None:
            held.timer.cancel()
            # Same lane as the delivery it was held for, so it goes out right after it.
            self._enqueue(lane, held.outgoing)

    def _redeliver(self, outgoing: OutgoingT) -> None:
        self._stats.incr("webhook_redeliveries")
        self._spawn(self._attempt_after_latency(outgoing))

    def _release_held(self, hook_id: int) -> None:
        held = self._held.pop(hook_id, None)
        if held is not None:
            self._enqueue(held.lane, held.outgoing)

    def _enqueue(self, lane: tuple[int, Hashable], outgoing: OutgoingT) -> None:
        queue = self._lanes.get(lane)
        if queue is None:
            queue = self._lanes[lane] = deque()
            self._spawn(self._drain(lane, queue))
        queue.append(outgoing)

    async def _drain(self, lane: tuple[int, Hashable], queue: deque[OutgoingT]) -> None:
        try:
            while queue:
                await self._clock.sleep(self._latency_s() + self._faults.extra_latency_s)
                outgoing = queue.popleft()
                if not self._still_wanted(outgoing):
                    continue
                await self._attempt(outgoing)
                if outgoing.fault == "duplicate":
                    self._stats.incr("webhooks_duplicated")
                    await self._attempt(replace(outgoing, fault="duplicate-copy"))  # type: ignore[type-var]
        finally:
            if self._lanes.get(lane) is queue:
                del self._lanes[lane]

    async def _attempt_after_latency(self, outgoing: OutgoingT) -> None:
        await self._clock.sleep(self._latency_s())
        await self._attempt(outgoing)

    async def _post(
        self, outgoing: OutgoingT, url: str, body: bytes, headers: Mapping[str, str]
    ) -> PostResult:
        """POST one delivery, or fail it without sending for a `drop` fault; count the attempt."""
        result = DROPPED if outgoing.fault == "drop" else await self._send(url, body, headers)
        if outgoing.fault == "drop":
            self._stats.incr("webhooks_dropped")
        self._stats.incr("webhook_attempts")
        if not result.succeeded:
            self._stats.incr("webhook_failures")
        return result

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

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery task failed", exc_info=task.exception())
