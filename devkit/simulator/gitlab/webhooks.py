"""Delivery of Job Hooks: authenticated (and optionally signed) POSTs, a record of every attempt,
injected faults, and GitLab's automatic disabling of hooks that keep failing.

Lanes, injected faults and the log: `simulator.webhooks`. Like GitLab, the sender does not retry a
failed delivery by itself; `redeliver` is the "Resend request" button, and it keeps the event's
Idempotency-Key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from simulator.gitlab.config import GitLabSimConfig
from simulator.gitlab.errors import not_found
from simulator.webhooks import WebhookPipeline

JOB_HOOK = "Job Hook"
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

    def clear_failures(self) -> None:
        self.recent_failures = self.backoff_count = 0
        self.disabled_until = None

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
    event: str = JOB_HOOK
    redelivery: bool = False
    fault: str | None = None  # see `simulator.webhooks`; a duplicate has the same UUID and key


def standard_webhooks_signature(signing_token: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`; a `whsec_` secret is base64 key bytes."""
    if signing_token.startswith(STANDARD_WEBHOOKS_SECRET_PREFIX):
        key = base64.b64decode(signing_token[len(STANDARD_WEBHOOKS_SECRET_PREFIX) :])
    else:
        key = signing_token.encode()
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookSender(WebhookPipeline[Hook, Outgoing]):
    FIRST_IDS = (5_000_001, 90_000_001)
    _config: GitLabSimConfig
    instance_url = ""  # X-Gitlab-Instance, known once the simulator serves

    def _missing(self, what: str) -> Exception:
        return not_found(what)

    # -- hooks ----------------------------------------------------------------------------

    def add_hook(self, url: str, token: str, signing_token: str | None, scope: HookScope) -> Hook:
        if signing_token is not None and signing_token.startswith(STANDARD_WEBHOOKS_SECRET_PREFIX):
            # Fail at configuration time, not on the first delivery.
            base64.b64decode(signing_token[len(STANDARD_WEBHOOKS_SECRET_PREFIX) :], validate=True)
        created_at = self._clock.now()
        return self._add_hook(
            lambda hook_id: Hook(hook_id, str(uuid.uuid4()), url, token, signing_token, scope, created_at)
        )

    def remove_hook(self, hook_id: int) -> None:
        self._hooks.pop(self.hook(hook_id).id)

    def enable_hook(self, hook_id: int) -> Hook:
        """What a maintainer's "Enable" does for a disabled hook."""
        hook = self.hook(hook_id)
        hook.clear_failures()
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
                self._stats["webhooks_skipped_disabled"] += 1
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

    def _still_wanted(self, outgoing: Outgoing) -> bool:
        if outgoing.hook.executable(self._clock.now()):
            return True
        # Disabled while this delivery waited its turn.
        self._stats["webhooks_skipped_disabled"] += 1
        return False

    def _headers(self, outgoing: Outgoing) -> dict[str, str]:
        hook = outgoing.hook
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"GitLab/{self._config.version}",
            "X-Gitlab-Event": outgoing.event,
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

    def _answered(self, outgoing: Outgoing, status_code: int) -> None:
        """Auto-disabling: 2xx and 3xx clear the failure count; 4xx, 5xx, timeouts and refused
        connections add to it (`WebHookService#response_category`: success or redirection is ok,
        anything else a failure; GitLab's webhook docs count 4xx and 5xx answers as failures)."""
        hook = outgoing.hook
        if 200 <= status_code < 400:
            hook.clear_failures()
            return
        hook.recent_failures += 1
        permanent_after = self._config.hook_permanent_disable_after
        if permanent_after is not None and hook.recent_failures >= permanent_after:
            if not hook.permanently_disabled:
                hook.permanently_disabled = True
                self._stats["hooks_disabled"] += 1
            return
        if hook.recent_failures >= self._config.hook_disable_after:
            hook.backoff_count += 1
            backoff = min(
                self._config.hook_backoff_s * 2 ** (hook.backoff_count - 1), self._config.hook_backoff_max_s
            )
            hook.disabled_until = self._clock.now() + self._clock.real(backoff)
            self._stats["hooks_disabled"] += 1
