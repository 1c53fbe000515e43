"""Delivery of App webhooks: signed POSTs, a record of every attempt, optional injected faults.

Deliveries about one job go out one after another in a lane of their own, so they arrive in
order unless a fault reorders them; different jobs do not wait for each other. Like GitHub, the
sender never retries a failed delivery by itself; only an explicit redelivery sends it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Coroutine, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from simulator.clock import SimClock
from simulator.github.config import WebhookFaults
from simulator.github.errors import not_found
from simulator.github.model import Stats

log = logging.getLogger(__name__)

USER_AGENT = "GitHub-Hookshot/5f3b8c1"
STORED_RESPONSE_CHARS = 2048


@dataclass(frozen=True)
class Hook:
    id: int
    url: str
    secret: str
    events: frozenset[str]

    def wants(self, event: str) -> bool:
        return event == "ping" or "*" in self.events or event in self.events


@dataclass(frozen=True)
class Outgoing:
    guid: str
    hook: Hook
    event: str
    action: str | None
    body: bytes
    installation_id: int | None
    repository_id: int | None
    job_id: int | None
    redelivery: bool = False
    # "drop": recorded as a failed attempt without reaching the receiver;
    # "duplicate": sent twice with the same delivery guid.
    fault: str | None = None


@dataclass(frozen=True)
class Delivery:
    id: int
    guid: str
    hook_id: int
    url: str
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    job_id: int | None
    redelivery: bool
    fault: str | None
    delivered_at: float
    duration: float
    status: str
    status_code: int
    error: str | None
    request_headers: Mapping[str, str]
    body: bytes
    response_headers: Mapping[str, str]
    response_body: str

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "guid": self.guid,
            "hook_id": self.hook_id,
            "event": self.event,
            "action": self.action,
            "job_id": self.job_id,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "redelivery": self.redelivery,
            "fault": self.fault,
            "delivered_at": self.delivered_at,
            "duration": self.duration,
            "status": self.status,
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass
class _Held:
    outgoing: Outgoing
    lane: tuple[int, Hashable]
    timer: asyncio.TimerHandle


def sign(secret: str, body: bytes) -> dict[str, str]:
    return {
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


class WebhookSender:
    def __init__(
        self,
        *,
        clock: SimClock,
        app_id: int,
        latency_s: float,
        timeout_s: float,
        retention_s: float,
        faults: WebhookFaults,
        stats: Stats,
        rng: random.Random,
    ) -> None:
        self._clock = clock
        self._app_id = app_id
        self._latency_s = latency_s
        self._timeout_s = timeout_s
        self._retention_s = retention_s
        self._faults = faults
        self._stats = stats
        self._rng = rng
        self._hooks: dict[int, Hook] = {}
        self._hook_ids = itertools.count(480_000_001)
        self._delivery_ids = itertools.count(12_000_000_001)
        self._deliveries: dict[int, Delivery] = {}
        self._lanes: dict[tuple[int, Hashable], deque[Outgoing]] = {}
        self._held: dict[int, _Held] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))

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

    @property
    def hooks(self) -> list[Hook]:
        return list(self._hooks.values())

    def add_hook(self, url: str, secret: str, events: Iterable[str]) -> Hook:
        hook = Hook(id=next(self._hook_ids), url=url, secret=secret, events=frozenset(events))
        self._hooks[hook.id] = hook
        return hook

    def set_faults(self, faults: WebhookFaults) -> None:
        self._faults = faults

    @property
    def faults(self) -> WebhookFaults:
        return self._faults

    def publish(
        self,
        event: str,
        action: str | None,
        payload: Mapping[str, Any],
        *,
        ordering_key: Hashable,
        installation_id: int | None,
        repository_id: int | None,
        job_id: int | None = None,
        hooks: Sequence[Hook] | None = None,
    ) -> None:
        body = json.dumps(payload).encode()
        for hook in self.hooks if hooks is None else hooks:
            if not hook.wants(event):
                continue
            outgoing = Outgoing(
                guid=str(uuid.uuid4()),
                hook=hook,
                event=event,
                action=action,
                body=body,
                installation_id=installation_id,
                repository_id=repository_id,
                job_id=job_id,
                fault=self._pick_fault(),
            )
            lane = (hook.id, ordering_key)
            held = self._held.pop(hook.id, None)
            if held is None and self._rng.random() < self._faults.reorder_probability:
                self._hold(outgoing, lane)
                continue
            self._enqueue(lane, outgoing)
            if held is not None:
                held.timer.cancel()
                # Same lane as the delivery it was held for, so it goes out right after it.
                self._enqueue(lane, held.outgoing)

    def redeliver(self, delivery_id: int) -> None:
        original = self.delivery(delivery_id)
        hook = self._hooks.get(original.hook_id)
        if hook is None:
            raise not_found()
        outgoing = Outgoing(
            guid=original.guid,
            hook=hook,
            event=original.event,
            action=original.action,
            body=original.body,
            installation_id=original.installation_id,
            repository_id=original.repository_id,
            job_id=original.job_id,
            redelivery=True,
        )
        self._stats.incr("webhook_redeliveries")
        self._spawn(self._attempt_after_latency(outgoing))

    def deliveries(self) -> list[Delivery]:
        """Recorded attempts, oldest first, within GitHub's retention period."""
        cutoff = self._clock.now() - self._clock.real(self._retention_s)
        for key in [k for k, d in self._deliveries.items() if d.delivered_at < cutoff]:
            del self._deliveries[key]
        return list(self._deliveries.values())

    def delivery(self, delivery_id: int) -> Delivery:
        self.deliveries()
        found = self._deliveries.get(delivery_id)
        if found is None:
            raise not_found()
        return found

    def _pick_fault(self) -> str | None:
        if self._rng.random() < self._faults.drop_probability:
            return "drop"
        if self._rng.random() < self._faults.duplicate_probability:
            return "duplicate"
        return None

    def _hold(self, outgoing: Outgoing, lane: tuple[int, Hashable]) -> None:
        loop = asyncio.get_running_loop()
        timer = loop.call_later(
            self._clock.real(self._faults.reorder_max_hold_s), self._release_held, outgoing.hook.id
        )
        self._held[outgoing.hook.id] = _Held(outgoing, lane, timer)
        self._stats.incr("webhooks_reordered")

    def _release_held(self, hook_id: int) -> None:
        held = self._held.pop(hook_id, None)
        if held is not None:
            self._enqueue(held.lane, held.outgoing)

    def _enqueue(self, lane: tuple[int, Hashable], outgoing: Outgoing) -> None:
        queue = self._lanes.get(lane)
        if queue is None:
            queue = self._lanes[lane] = deque()
            self._spawn(self._drain(lane, queue))
        queue.append(outgoing)

    async def _drain(self, lane: tuple[int, Hashable], queue: deque[Outgoing]) -> None:
        try:
            while queue:
                await self._clock.sleep(self._latency_s + self._faults.extra_latency_s)
                outgoing = queue.popleft()
                await self._attempt(outgoing)
                if outgoing.fault == "duplicate":
                    self._stats.incr("webhooks_duplicated")
                    await self._attempt(replace(outgoing, fault="duplicate-copy"))
        finally:
            if self._lanes.get(lane) is queue:
                del self._lanes[lane]

    async def _attempt_after_latency(self, outgoing: Outgoing) -> None:
        await self._clock.sleep(self._latency_s)
        await self._attempt(outgoing)

    async def _attempt(self, outgoing: Outgoing) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Event": outgoing.event,
            "X-GitHub-Delivery": outgoing.guid,
            "X-GitHub-Hook-ID": str(outgoing.hook.id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(self._app_id),
        }
        if outgoing.hook.secret:
            headers.update(sign(outgoing.hook.secret, outgoing.body))
        delivered_at = self._clock.now()
        started = time.monotonic()
        status_code = 0
        error: str | None = None
        response_headers: dict[str, str] = {}
        response_body = ""
        if outgoing.fault == "drop":
            status, error = "failed to connect to host", "dropped by fault injection"
            self._stats.incr("webhooks_dropped")
        else:
            status, status_code, error, response_headers, response_body = await self._post(
                outgoing.hook.url, outgoing.body, headers
            )
        delivery = Delivery(
            id=next(self._delivery_ids),
            guid=outgoing.guid,
            hook_id=outgoing.hook.id,
            url=outgoing.hook.url,
            event=outgoing.event,
            action=outgoing.action,
            installation_id=outgoing.installation_id,
            repository_id=outgoing.repository_id,
            job_id=outgoing.job_id,
            redelivery=outgoing.redelivery,
            fault=outgoing.fault,
            delivered_at=delivered_at,
            duration=round(time.monotonic() - started, 6),
            status=status,
            status_code=status_code,
            error=error,
            request_headers=headers,
            body=outgoing.body,
            response_headers=response_headers,
            response_body=response_body,
        )
        self._deliveries[delivery.id] = delivery
        self._stats.incr("webhook_attempts")
        if not delivery.succeeded:
            self._stats.incr("webhook_failures")

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[str, int, str | None, dict[str, str], str]:
        if self._session is None:
            return "failed to connect to host", 0, "sender is closed", {}, ""
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                text = (await response.read()).decode(errors="replace")[:STORED_RESPONSE_CHARS]
                ok = 200 <= response.status < 300
                status = "OK" if ok else f"Invalid HTTP Response: {response.status}"
                return status, response.status, None, dict(response.headers), text
        except TimeoutError:
            return "timed out", 0, "timed out", {}, ""
        except aiohttp.ClientError as exc:
            return "failed to connect to host", 0, f"{type(exc).__name__}: {exc}", {}, ""

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery task failed", exc_info=task.exception())
