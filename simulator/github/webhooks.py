"""Delivery of App webhooks: signed POSTs and a record of every attempt.

Lanes and injected faults: `simulator.webhooks`. Like GitHub, the sender never retries a failed
delivery by itself; only an explicit redelivery sends it again.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import time
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.clock import SimClock
from simulator.github.errors import not_found
from simulator.stats import Stats
from simulator.webhooks import WebhookFaults, WebhookPipeline

USER_AGENT = "GitHub-Hookshot/5f3b8c1"


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


def sign(secret: str, body: bytes) -> dict[str, str]:
    return {
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


class WebhookSender(WebhookPipeline[Outgoing]):
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
        super().__init__(clock=clock, faults=faults, stats=stats, rng=rng)
        self._app_id = app_id
        self._latency = latency_s
        self._timeout_s = timeout_s
        self._retention_s = retention_s
        self._hooks: dict[int, Hook] = {}
        self._hook_ids = itertools.count(480_000_001)
        self._delivery_ids = itertools.count(12_000_000_001)
        self._deliveries: dict[int, Delivery] = {}

    async def open(self) -> None:
        self._open_session(self._timeout_s)

    @property
    def hooks(self) -> list[Hook]:
        return list(self._hooks.values())

    def add_hook(self, url: str, secret: str, events: Iterable[str]) -> Hook:
        hook = Hook(id=next(self._hook_ids), url=url, secret=secret, events=frozenset(events))
        self._hooks[hook.id] = hook
        return hook

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
            self._route(outgoing, ordering_key)

    def redeliver(self, delivery_id: int) -> None:
        original = self.delivery(delivery_id)
        hook = self._hooks.get(original.hook_id)
        if hook is None:
            raise not_found()
        self._redeliver(
            Outgoing(
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
        )

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

    def _latency_s(self) -> float:
        return self._latency

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
        result = await self._post(outgoing, outgoing.hook.url, outgoing.body, headers)
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
            status=result.status,
            status_code=result.status_code,
            error=result.error,
            request_headers=headers,
            body=outgoing.body,
            response_headers=result.headers,
            response_body=result.body,
        )
        self._deliveries[delivery.id] = delivery
