"""Wire the service to the simulators: the real adapters, pointed at loopback endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner_fleet.ports.compute import Compute
from runner_fleet.preflight.factory import azure_preflight_factory
from runner_fleet.runtime import Runtime, forge_factories
from runner_fleet.settings import load_pools, load_service_settings

if TYPE_CHECKING:
    from simulator.stack import SimulatedCloud

_STORAGE_KEYS = ("AzureWebJobsStorage",)


def uses_azure_storage(environ: Mapping[str, str]) -> bool:
    return any(key == "AzureWebJobsStorage" or key.startswith("AzureWebJobsStorage__") for key in environ)


def simulated_runtime(cloud: SimulatedCloud, environ: Mapping[str, str]) -> Runtime:
    """Settings from the simulators, overridden by whatever the environment sets (secrets, pools)."""
    settings = load_service_settings({**cloud.service_environment(), **environ})
    pools = load_pools(settings, use_example=True)
    if uses_azure_storage(environ):
        from runner_fleet.adapters.storage import storage_from_settings

        queue, table = storage_from_settings(environ)
    else:
        from runner_fleet.adapters.memory.queue import MemoryWorkQueue
        from runner_fleet.adapters.memory.state import MemoryStateTable

        queue, table = MemoryWorkQueue(), MemoryStateTable()

    def compute() -> Compute:
        from runner_fleet.adapters.azure.clients import ArmConnection
        from runner_fleet.adapters.azure.compute import AzureCompute
        from runner_fleet.adapters.azure.credentials import StaticTokenCredential

        return AzureCompute(
            ArmConnection(
                credential=StaticTokenCredential(),
                endpoint=settings.arm_endpoint,
                ca_bundle=str(settings.arm_ca_bundle) if settings.arm_ca_bundle else None,
                polling_interval_s=0.5,
            )
        )

    def static_credential() -> Any:
        from runner_fleet.adapters.azure.credentials import StaticTokenCredential

        return StaticTokenCredential()

    forges = forge_factories(settings, table)
    return Runtime(
        settings,
        pools,
        queue,
        table,
        compute,
        forges.registries,
        resolver_factories=forges.resolvers,
        feed_factories=forges.feeds,
        access_factories=forges.access,
        preflight_factory=azure_preflight_factory(
            settings, pools, credential=static_credential, polling_interval_s=0.5
        ),
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
