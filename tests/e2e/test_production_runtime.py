"""The production composition root, `runtime.from_environment`, built from nothing but an environment.

Everything comes from settings as in Azure: the queue and state table from `AzureWebJobsStorage`
(Azurite), the Resource Manager token from the Functions managed identity endpoint
(`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`, `AZURE_CLIENT_ID`, through DefaultAzureCredential), the
forges and Resource Manager from their URLs (the simulators), the pools from `RUNNER_POOLS_FILE`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import runner_fleet
from runner_fleet import runtime
from runner_fleet.adapters.azure.compute import AzureCompute
from runner_fleet.adapters.storage.queue import AzureWorkQueue
from runner_fleet.adapters.storage.tables import AzureStateTable
from runner_fleet.cli.serve import host_json_path
from runner_fleet.host.hostjson import read_queue_settings
from runner_fleet.host.index import index_app
from runner_fleet.host.local import LocalHost
from runner_fleet_dev.simulated import connect_forges
from simulator.arm.identity import IdentityEndpoint
from simulator.stack import DEMO_GITLAB_PROJECT_ID, SimulatedCloud
from simulator.testing import eventually
from tests.azurite import Azurite, azurite_session

pytestmark = pytest.mark.e2e

EXAMPLE_POOLS = Path(runner_fleet.__file__).parent / "defaults" / "example-pools.yaml"
CLIENT_ID = "5f0c7f2e-8d7b-4a39-9a51-0c3d2b8e6a11"  # the user-assigned identity's client id
# Anything else DefaultAzureCredential would try before the managed identity.
_OTHER_CREDENTIALS = (
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_FEDERATED_TOKEN_FILE",
    "MSI_ENDPOINT",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
)


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    yield from azurite_session()


@pytest.fixture
def cloud() -> Iterator[SimulatedCloud]:
    cloud = SimulatedCloud.start(time_scale=30)
    yield cloud
    cloud.stop()


async def test_from_environment_serves_a_github_and_a_gitlab_job_and_leaves_nothing(
    azurite: Azurite, cloud: SimulatedCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a plain environment, production's runtime serves a job of each forge and deletes both VMs."""
    identity = IdentityEndpoint(cloud.loop)
    identity.start()
    for name in _OTHER_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    # azure-identity reads these from the process environment, as the Functions host sets them.
    for name, value in {**identity.environment(), "AZURE_CLIENT_ID": CLIENT_ID}.items():
        monkeypatch.setenv(name, value)
    environ = {
        **cloud.service_environment(),
        "AzureWebJobsStorage": azurite.connection_string,
        "RUNNER_POOLS_FILE": str(EXAMPLE_POOLS),
        "AZURE_CLIENT_ID": CLIENT_ID,
    }
    rt = runtime.from_environment(environ)
    assert isinstance(rt.queue, AzureWorkQueue)
    assert isinstance(rt.table, AzureStateTable)
    assert isinstance(rt.compute, AzureCompute)
    runtime.install(rt)
    host = LocalHost(index_app(), rt.queue, read_queue_settings(host_json_path()), port=0)
    try:
        connect_forges(cloud, rt, await host.start())
        github_job = await asyncio.to_thread(
            cloud.github.queue_job,
            "example-org",
            "platform-deploy",
            ["self-hosted", "aks-prod"],
            duration_s=30,
        )
        gitlab_job = await asyncio.to_thread(
            cloud.gitlab.create_job, DEMO_GITLAB_PROJECT_ID, ["aks-prod"], duration_s=30
        )

        async def both_done() -> bool:
            github = {j["id"]: j for j in await asyncio.to_thread(cloud.github.jobs)}
            gitlab = {j["id"]: j for j in await asyncio.to_thread(cloud.gitlab.jobs)}
            return bool(
                github[github_job["id"]]["conclusion"] == "success"
                and gitlab[gitlab_job["id"]]["status"] == "success"
            )

        assert await eventually(both_done, within_s=90, poll_s=0.2, what="both jobs done")

        async def no_vm_left() -> bool:
            return not await asyncio.to_thread(cloud.arm.vms)

        assert await eventually(no_vm_left, within_s=60, poll_s=0.2, what="no VM left")
    finally:
        await host.stop()
        await rt.aclose()
        runtime.install(None)
    # Resource Manager was reached with the user-assigned identity's token, not a stand-in.
    assert ("https://management.azure.com", CLIENT_ID) in identity.issued
