"""Delivery of Job Hooks: authenticated (and optionally signed) POSTs, a record of every attempt,
injected faults, and GitLab's automatic disabling of hooks that keep failing.

Lanes and injected faults: `simulator.webhooks`. Like GitLab, the sender does not retry a failed
delivery by itself; `redeliver` is the "Resend request" button, and it keeps the event's
Idempotency-Key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
import time
import uuid
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from simulator.clock import SimClock
from simulator.gitlab.config import GitLabSimConfig
from simulator.gitlab.errors import not_found
from simulator.stats import Stats
from simulator.webhooks import WebhookPipeline

JOB_HOOK = "Job Hook"
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


def standard_webhooks_signature(signing_token: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`; a `whsec_` secret is base64 key bytes."""
    if signing_token.startswith(STANDARD_WEBHOOKS_SECRET_PREFIX):
        key = base64.b64decode(signing_token[len(STANDARD_WEBHOOKS_SECRET_PREFIX) :])
    else:
        key = signing_token.encode()
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookSender(WebhookPipeline[Outgoing]):
    def __init__(self, *, clock: SimClock, config: GitLabSimConfig, stats: Stats, rng: random.Random) -> None:
        super().__init__(clock=clock, faults=config.faults, stats=stats, rng=rng)
        self._config = config
        self.instance_url = ""
        self._hooks: dict[int, Hook] = {}
        self._hook_ids = itertools.count(5_000_001)
        self._delivery_ids = itertools.count(90_000_001)
        self._deliveries: deque[Delivery] = deque(maxlen=config.max_deliveries_kept)

    async def open(self, instance_url: str) -> None:
        self.instance_url = instance_url
        self._open_session(self._config.webhook_timeout_s)

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
            self._route(outgoing, ordering_key)

    def redeliver(self, delivery_id: int) -> None:
        original = self.delivery(delivery_id)
        hook = self.hook(original.hook_id)
        self._redeliver(
            Outgoing(
                hook=hook,
                body=original.body,
                event_uuid=original.event_uuid,
                idempotency_key=original.idempotency_key,
                job_id=original.job_id,
                build_status=original.build_status,
                redelivery=True,
            )
        )

    def deliveries(self) -> list[Delivery]:
        return list(self._deliveries)

    def delivery(self, delivery_id: int) -> Delivery:
        found = next((d for d in self._deliveries if d.id == delivery_id), None)
        if found is None:
            raise not_found("Delivery")
        return found

    def _latency_s(self) -> float:
        return self._config.webhook_latency_s

    def _still_wanted(self, outgoing: Outgoing) -> bool:
        if outgoing.hook.executable(self._clock.now()):
            return True
        # Disabled while this delivery waited its turn.
        self._stats.incr("webhooks_skipped_disabled")
        return False

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
        result = await self._post(outgoing, outgoing.hook.url, outgoing.body, headers)
        if outgoing.fault != "drop":
            self._account(outgoing.hook, result.status_code)
        self._deliveries.append(
            Delivery(
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
                status=result.status,
                status_code=result.status_code,
                error=result.error,
                request_headers=headers,
                body=outgoing.body,
                response_body=result.body,
            )
        )

    def _account(self, hook: Hook, status_code: int) -> None:
        """Auto-disabling: 2xx and 3xx clear the failure count; 4xx, 5xx, timeouts and refused
        connections add to it (`WebHookService#response_category`: success or redirection is ok,
        anything else a failure; GitLab's webhook docs count 4xx and 5xx answers as failures)."""
        if 200 <= status_code < 400:
            hook.recent_failures = 0
            hook.backoff_count = 0
            hook.disabled_until = None
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
