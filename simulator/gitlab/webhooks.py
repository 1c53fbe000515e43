"""Delivery of Job Hooks: authenticated (and optionally signed) POSTs, a record of every attempt,
injected faults, and GitLab's automatic disabling of hooks that keep failing.

Deliveries about one job go out one after another in a lane of their own, so they arrive in
order unless a fault reorders them; different jobs do not wait for each other. Like GitLab,
the sender does not retry a failed delivery by itself; `redeliver` is the "Resend request"
button, and it keeps the event's Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Coroutine, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import aiohttp

from simulator.clock import SimClock
from simulator.gitlab.config import GitLabSimConfig, WebhookFaults
from simulator.gitlab.errors import not_found
from simulator.gitlab.model import Stats

log = logging.getLogger(__name__)

JOB_HOOK = "Job Hook"
STORED_RESPONSE_CHARS = 2048
REDACTED = "[REDACTED]"
STANDARD_WEBHOOKS_SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a credential


@dataclass(frozen=True)
class HookScope:
    kind: Literal["project", "group"]
    id: int


@dataclass(eq=False)
class Hook:
    id: int
    uuid: str
    url: str
    token: str
    signing_token: str | None
    scope: HookScope
    created_at: float
    recent_failures: int = 0
    backoff_count: int = 0
    disabled_until: float | None = None
    permanently_disabled: bool = False

    def executable(self, now: float) -> bool:
        if self.permanently_disabled:
            return False
        return self.disabled_until is None or now >= self.disabled_until

    def alert_status(self, now: float) -> str:
        if self.permanently_disabled:
            return "disabled"
        return "executable" if self.executable(now) else "temporarily_disabled"

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "uuid": self.uuid,
            "url": self.url,
            "scope": {"type": self.scope.kind, "id": self.scope.id},
            "signed": self.signing_token is not None,
            "created_at": self.created_at,
            "alert_status": self.alert_status(now),
            "recent_failures": self.recent_failures,
            "backoff_count": self.backoff_count,
            "disabled_until": self.disabled_until,
        }


@dataclass(frozen=True)
class Outgoing:
    hook: Hook
    body: bytes
    event_uuid: str
    idempotency_key: str
    job_id: int | None
    build_status: str | None
    redelivery: bool = False
    # "drop": recorded as a failed attempt without reaching the receiver;
    # "duplicate": sent twice with the same event UUID and Idempotency-Key.
    fault: str | None = None


@dataclass(frozen=True)
class Delivery:
    id: int
    hook_id: int
    url: str
    event_uuid: str
    idempotency_key: str
    job_id: int | None
    build_status: str | None
    redelivery: bool
    fault: str | None
    delivered_at: float
    duration: float
    status: str
    status_code: int
    error: str | None
    request_headers: Mapping[str, str]
    body: bytes
    response_body: str

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300

    def snapshot(self) -> dict[str, Any]:
        headers = dict(self.request_headers)
        if "X-Gitlab-Token" in headers:
            headers["X-Gitlab-Token"] = REDACTED
        return {
            "id": self.id,
            "hook_id": self.hook_id,
            "url": self.url,
            "event": JOB_HOOK,
            "event_uuid": self.event_uuid,
            "idempotency_key": self.idempotency_key,
            "job_id": self.job_id,
            "build_status": self.build_status,
            "redelivery": self.redelivery,
            "fault": self.fault,
            "delivered_at": self.delivered_at,
            "duration": self.duration,
            "status": self.status,
            "status_code": self.status_code,
            "error": self.error,
            "request_headers": headers,
            "response_body": self.response_body,
        }


@dataclass
class _Held:
    outgoing: Outgoing
    lane: tuple[int, Hashable]
    timer: asyncio.TimerHandle


def standard_webhooks_signature(signing_token: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`; a `whsec_` secret is base64 key bytes."""
    if signing_token.startswith(STANDARD_WEBHOOKS_SECRET_PREFIX):
        key = base64.b64decode(signing_token[len(STANDARD_WEBHOOKS_SECRET_PREFIX) :])
    else:
        key = signing_token.encode()
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookSender:
    def __init__(self, *, clock: SimClock, config: GitLabSimConfig, stats: Stats, rng: random.Random) -> None:
        self._clock = clock
        self._config = config
        self._faults = config.faults
        self._stats = stats
        self._rng = rng
        self.instance_url = ""
        self._hooks: dict[int, Hook] = {}
        self._hook_ids = itertools.count(5_000_001)
        self._delivery_ids = itertools.count(90_000_001)
        self._deliveries: deque[Delivery] = deque(maxlen=config.max_deliveries_kept)
        self._lanes: dict[tuple[int, Hashable], deque[Outgoing]] = {}
        self._held: dict[int, _Held] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def open(self, instance_url: str) -> None:
        self.instance_url = instance_url
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._config.webhook_timeout_s)
        )

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

    # -- hooks ----------------------------------------------------------------------------

    @property
    def hooks(self) -> list[Hook]:
        return list(self._hooks.values())

    def add_hook(self, url: str, token: str, signing_token: str | None, scope: HookScope) -> Hook:
        if signing_token is not None and signing_token.startswith(STANDARD_WEBHOOKS_SECRET_PREFIX):
            # Fail at configuration time, not on the first delivery.
            base64.b64decode(signing_token[len(STANDARD_WEBHOOKS_SECRET_PREFIX) :], validate=True)
        hook = Hook(
            id=next(self._hook_ids),
            uuid=str(uuid.uuid4()),
            url=url,
            token=token,
            signing_token=signing_token,
            scope=scope,
            created_at=self._clock.now(),
        )
        self._hooks[hook.id] = hook
        return hook

    def hook(self, hook_id: int) -> Hook:
        hook = self._hooks.get(hook_id)
        if hook is None:
            raise not_found("Hook")
        return hook

    def remove_hook(self, hook_id: int) -> None:
        self._hooks.pop(self.hook(hook_id).id)

    def enable_hook(self, hook_id: int) -> Hook:
        """What a maintainer's "Enable" does for a disabled hook."""
        hook = self.hook(hook_id)
        hook.recent_failures = 0
        hook.backoff_count = 0
        hook.disabled_until = None
        hook.permanently_disabled = False
        return hook

    def set_faults(self, faults: WebhookFaults) -> None:
        self._faults = faults

    @property
    def faults(self) -> WebhookFaults:
        return self._faults

    # -- sending --------------------------------------------------------------------------

    def publish(
        self,
        payload: Mapping[str, Any],
        hooks: Iterable[Hook],
        *,
        ordering_key: Hashable,
        job_id: int | None,
        build_status: str | None,
    ) -> None:
        body = json.dumps(payload).encode()
        event_uuid = str(uuid.uuid4())
        now = self._clock.now()
        for hook in hooks:
            if not hook.executable(now):
                # A disabled hook is not executed at all; GitLab keeps no log entry for it.
                self._stats.incr("webhooks_skipped_disabled")
                continue
            outgoing = Outgoing(
                hook=hook,
                body=body,
                event_uuid=event_uuid,
                idempotency_key=str(uuid.uuid4()),
                job_id=job_id,
                build_status=build_status,
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
        hook = self.hook(original.hook_id)
        outgoing = Outgoing(
            hook=hook,
            body=original.body,
            event_uuid=original.event_uuid,
            idempotency_key=original.idempotency_key,
            job_id=original.job_id,
            build_status=original.build_status,
            redelivery=True,
        )
        self._stats.incr("webhook_redeliveries")
        self._spawn(self._attempt_after_latency(outgoing))

    def deliveries(self) -> list[Delivery]:
        return list(self._deliveries)

    def delivery(self, delivery_id: int) -> Delivery:
        found = next((d for d in self._deliveries if d.id == delivery_id), None)
        if found is None:
            raise not_found("Delivery")
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
                await self._clock.sleep(self._config.webhook_latency_s + self._faults.extra_latency_s)
                outgoing = queue.popleft()
                if not outgoing.hook.executable(self._clock.now()):
                    # Disabled while this delivery waited its turn.
                    self._stats.incr("webhooks_skipped_disabled")
                    continue
                await self._attempt(outgoing)
                if outgoing.fault == "duplicate":
                    self._stats.incr("webhooks_duplicated")
                    await self._attempt(replace(outgoing, fault="duplicate-copy"))
        finally:
            if self._lanes.get(lane) is queue:
                del self._lanes[lane]

    async def _attempt_after_latency(self, outgoing: Outgoing) -> None:
        await self._clock.sleep(self._config.webhook_latency_s)
        await self._attempt(outgoing)

    def _headers(self, outgoing: Outgoing) -> dict[str, str]:
        hook = outgoing.hook
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"GitLab/{self._config.version}",
            "X-Gitlab-Event": JOB_HOOK,
            "X-Gitlab-Event-UUID": outgoing.event_uuid,
            "X-Gitlab-Webhook-UUID": hook.uuid,
            "X-Gitlab-Instance": self.instance_url,
            "Idempotency-Key": outgoing.idempotency_key,
        }
        if hook.token:
            headers["X-Gitlab-Token"] = hook.token
        if hook.signing_token is not None:
            timestamp = int(self._clock.now())
            headers["webhook-id"] = outgoing.idempotency_key
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = standard_webhooks_signature(
                hook.signing_token, outgoing.idempotency_key, timestamp, outgoing.body
            )
        return headers

    async def _attempt(self, outgoing: Outgoing) -> None:
        headers = self._headers(outgoing)
        delivered_at = self._clock.now()
        started = time.monotonic()
        status_code = 0
        response_body = ""
        error: str | None
        if outgoing.fault == "drop":
            status, error = "failed to connect to host", "dropped by fault injection"
            self._stats.incr("webhooks_dropped")
        else:
            status, status_code, error, response_body = await self._post(
                outgoing.hook.url, outgoing.body, headers
            )
            self._account(outgoing.hook, status_code)
        delivery = Delivery(
            id=next(self._delivery_ids),
            hook_id=outgoing.hook.id,
            url=outgoing.hook.url,
            event_uuid=outgoing.event_uuid,
            idempotency_key=outgoing.idempotency_key,
            job_id=outgoing.job_id,
            build_status=outgoing.build_status,
            redelivery=outgoing.redelivery,
            fault=outgoing.fault,
            delivered_at=delivered_at,
            duration=round(time.monotonic() - started, 6),
            status=status,
            status_code=status_code,
            error=error,
            request_headers=headers,
            body=outgoing.body,
            response_body=response_body,
        )
        self._deliveries.append(delivery)
        self._stats.incr("webhook_attempts")
        if not delivery.succeeded:
            self._stats.incr("webhook_failures")

    def _account(self, hook: Hook, status_code: int) -> None:
        """Auto-disabling: 2xx clears the failure count; 5xx, timeouts and refused connections
        add to it; other answers (3xx, 4xx) leave it as it is."""
        if 200 <= status_code < 300:
            hook.recent_failures = 0
            hook.backoff_count = 0
            hook.disabled_until = None
            return
        if status_code != 0 and status_code < 500:
            return
        hook.recent_failures += 1
        permanent_after = self._config.hook_permanent_disable_after
        if permanent_after is not None and hook.recent_failures >= permanent_after:
            if not hook.permanently_disabled:
                hook.permanently_disabled = True
                self._stats.incr("hooks_disabled")
            return
        if hook.recent_failures >= self._config.hook_disable_after:
            hook.backoff_count += 1
            backoff = min(
                self._config.hook_backoff_s * 2 ** (hook.backoff_count - 1), self._config.hook_backoff_max_s
            )
            hook.disabled_until = self._clock.now() + self._clock.real(backoff)
            self._stats.incr("hooks_disabled")

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[str, int, str | None, str]:
        if self._session is None:
            return "failed to connect to host", 0, "sender is closed", ""
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                text = (await response.read()).decode(errors="replace")[:STORED_RESPONSE_CHARS]
                ok = 200 <= response.status < 300
                return (
                    ("OK" if ok else f"Invalid HTTP Response: {response.status}"),
                    response.status,
                    None,
                    text,
                )
        except TimeoutError:
            return "timed out", 0, "timed out", ""
        except aiohttp.ClientError as exc:
            return "failed to connect to host", 0, f"{type(exc).__name__}: {exc}", ""

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery task failed", exc_info=task.exception())
