"""Delivery of App webhooks: signed POSTs and a record of every attempt (lanes, faults and the log:
`simulator.webhooks`). Like GitHub, the sender never retries a failed delivery by itself."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.github.config import GitHubSimConfig
from simulator.github.errors import not_found
from simulator.webhooks import Delivery, WebhookPipeline

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
    fault: str | None = None  # see `simulator.webhooks`; a duplicate has the same delivery guid


AppDelivery = Delivery[Outgoing]


def sign(secret: str, body: bytes) -> dict[str, str]:
    return {
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


class WebhookSender(WebhookPipeline[Hook, Outgoing]):
    FIRST_IDS = (480_000_001, 12_000_000_001)
    _config: GitHubSimConfig

    def _missing(self, what: str) -> Exception:
        return not_found()

    def add_hook(self, url: str, secret: str, events: Iterable[str]) -> Hook:
        return self._add_hook(lambda hook_id: Hook(hook_id, url, secret, frozenset(events)))

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
            if hook.wants(event):
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

    def _headers(self, outgoing: Outgoing) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Event": outgoing.event,
            "X-GitHub-Delivery": outgoing.guid,
            "X-GitHub-Hook-ID": str(outgoing.hook.id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(self._config.app_id),
        }
        if outgoing.hook.secret:
            headers.update(sign(outgoing.hook.secret, outgoing.body))
        return headers
