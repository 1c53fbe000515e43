"""Builders for test data: pools and signed GitHub deliveries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner_fleet.forges import Forge
from runner_fleet.ports.compute import Compute
from runner_fleet.ports.forge import RunnerRegistry
from runner_fleet.ports.queue import WorkQueue
from runner_fleet.settings.pool import Pool
from runner_fleet.settings.service import ServiceSettings
from runner_fleet.signatures import github_signature
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.create_runner import RunnerCreation
from runner_fleet.usecases.provision import Provisioner
from runner_fleet.usecases.provision_pool_runner import PoolRunnerProvisioner
from runner_fleet.usecases.replace_runner import RunnerReplacer
from runner_fleet.workers import ProvisionWork

EVENTS = Path(__file__).parent / "events"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
SUBNET = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-runners/providers/Microsoft.Network"
    "/virtualNetworks/vnet-runners/subnets/snet-runners"
)
WEBHOOK_SECRET = "test-webhook-secret-5b1c"
# The service's settings as the preflight reads them, with every default: GitHub.com and gitlab.com
# are the forge hosts (field defaults only, never read from the environment).
DEFAULT_SETTINGS = ServiceSettings.model_construct()


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


def make_provisioner(
    pools: Mapping[str, Pool],
    state: FleetState,
    compute: Compute,
    registries: Mapping[Forge, RunnerRegistry],
    ssh_public_key: str = "ssh-ed25519 AAAA",
    **options: Any,
) -> Provisioner:
    """A job provisioner over these ports, its create pipeline included (`now` and the network
    `preflight` gate go to both)."""
    shared = {name: options[name] for name in ("now", "preflight") if name in options}
    creation = RunnerCreation(state, compute, registries, ssh_public_key, **shared)
    return Provisioner(pools, state, creation, **options)


def provision_work(provisioner: Provisioner, queue: WorkQueue) -> ProvisionWork:
    """The provision queue's use cases around one job provisioner (pool runners share its pipeline)."""
    pools, state = provisioner.pools, provisioner.state
    pool_runners = PoolRunnerProvisioner(
        pools, state, provisioner.creation, preflight=provisioner.preflight, forge_gate=provisioner.forge_gate
    )
    return ProvisionWork(provisioner, pool_runners, RunnerReplacer(pools, state, queue))
