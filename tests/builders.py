"""Builders for test data: pools and signed GitHub deliveries."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from runner_fleet.settings.pool import Pool
from runner_fleet.signatures import github_signature

EVENTS = Path(__file__).parent / "events"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
SUBNET = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-runners/providers/Microsoft.Network"
    "/virtualNetworks/vnet-runners/subnets/snet-runners"
)
WEBHOOK_SECRET = "test-webhook-secret-5b1c"


def pool_dict(
    name: str = "aks-prod", labels: tuple[str, ...] = ("aks-prod",), **overrides: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "forge": "github",
        "labels": list(labels),
        # A dedicated runner group: the Default group (1) is refused unless a pool says otherwise.
        "github": {"org": "example-org", "runner_group_id": 2},
        "azure": {
            "subscription_id": SUBSCRIPTION,
            "resource_group": "rg-runners",
            "location": "westeurope",
            "subnet_id": SUBNET,
            "vm_sizes": ["Standard_D2ads_v5"],
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def make_pool(name: str = "aks-prod", labels: tuple[str, ...] = ("aks-prod",), **overrides: Any) -> Pool:
    return Pool.model_validate(pool_dict(name, labels, **overrides))


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / "github" / name).read_text())
    return loaded


def signed(
    payload: dict[str, Any] | bytes,
    *,
    event_name: str = "workflow_job",
    secret: str = WEBHOOK_SECRET,
    delivery: str | None = None,
) -> tuple[dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event_name,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": github_signature(secret.encode(), body),
        "Content-Type": "application/json",
    }
    return headers, body
