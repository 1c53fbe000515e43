"""Wire the service to the simulators: the real adapters, pointed at loopback endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from runner_fleet.ports.queue import WorkQueue
from runner_fleet.runtime import Runtime, build_runtime
from runner_fleet.state.table import StateTable

if TYPE_CHECKING:
    from simulator.stack import SimulatedCloud


def uses_azure_storage(environ: Mapping[str, str]) -> bool:
    return any(key == "AzureWebJobsStorage" or key.startswith("AzureWebJobsStorage__") for key in environ)


def simulated_runtime(cloud: SimulatedCloud, environ: Mapping[str, str]) -> Runtime:
    """Settings from the simulators, overridden by whatever the environment sets (secrets, pools);
    the in-memory queue and table unless the environment names a Storage account (Azurite)."""
    from runner_fleet.adapters.azure.credentials import StaticTokenCredential

    storage: tuple[WorkQueue, StateTable] | None = None
    if not uses_azure_storage(environ):
        from runner_fleet.adapters.memory.queue import MemoryWorkQueue
        from runner_fleet.adapters.memory.state import MemoryStateTable

        storage = MemoryWorkQueue(), MemoryStateTable()
    return build_runtime(
        {**cloud.service_environment(), **environ},
        storage=storage,
        example_pools=True,
        credential=StaticTokenCredential,
        polling_interval_s=0.5,
    )


def connect_forges(cloud: SimulatedCloud, runtime: Runtime, service_url: str) -> None:
    """Point the simulated forges' webhooks at the service, with the secrets the service verifies."""
    settings = runtime.settings
    secrets = {
        "GITHUB_WEBHOOK_SECRET": settings.github_webhook_secret,
        "GITLAB_WEBHOOK_TOKEN": settings.gitlab_webhook_token,
        "GITLAB_WEBHOOK_SIGNING_TOKEN": settings.gitlab_webhook_signing_token,
    }
    cloud.connect_webhooks(
        service_url, {k: v.get_secret_value() for k, v in secrets.items() if v is not None}
    )
