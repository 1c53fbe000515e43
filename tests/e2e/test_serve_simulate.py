"""End to end: `runner-fleet serve --simulate` over HTTP, observed through the real Azure SDK."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import pytest
from azure.mgmt.compute.aio import ComputeManagementClient

from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from simulator.stack import DEMO_INSTALLATION_ID
from simulator.testing import eventually
from tests.builders import event, signed
from tests.e2e.conftest import E2E_SECRET, ServeProcess, post

pytestmark = pytest.mark.e2e
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
T = TypeVar("T")


@pytest.fixture
async def compute(served: ServeProcess) -> AsyncIterator[ComputeManagementClient]:
    client = ComputeManagementClient(
        StaticTokenCredential(),
        SUBSCRIPTION,
        base_url=served.arm,
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=served.ready["arm_ca_bundle"],
    )
    async with client:
        yield client


async def _eventually(probe: Callable[[], Awaitable[T | None]], within_s: float = 45.0) -> T:
    return await eventually(probe, within_s=within_s, poll_s=0.2)


async def _vms_for_job(compute: ComputeManagementClient, job_id: int) -> list[Any]:
    return [
        vm
        async for vm in compute.virtual_machines.list("rg-runners")
        if (vm.tags or {}).get("job") == str(job_id)
    ]


async def _real_job(served: ServeProcess, http: aiohttp.ClientSession) -> int:
    """A job queued in the GitHub simulator, which also announces it: a provision reads the job there
    before it makes a VM, so a hand-made webhook gets a VM only for a job GitHub holds queued."""
    spec = {"owner": "example-org", "repo": "platform-deploy", "labels": ["self-hosted", "aks-prod"]}
    async with http.post(f"{served.github}/_sim/jobs", json=spec | {"duration_s": 3600}) as response:
        assert response.status == 201
        return int((await response.json())["id"])


async def _cancel(served: ServeProcess, http: aiohttp.ClientSession, job_id: int) -> None:
    async with http.post(f"{served.github}/_sim/jobs/{job_id}/cancel") as response:
        assert response.status in (200, 409)  # 409: it ended already


async def _sim_job(served: ServeProcess, http: aiohttp.ClientSession, job_id: int) -> dict[str, Any]:
    async with http.get(f"{served.github}/_sim/jobs") as response:
        return next(j for j in await response.json() if j["id"] == job_id)


def _queued(job_id: int) -> dict[str, Any]:
    payload = event("workflow_job.queued.json")
    payload["workflow_job"]["id"] = job_id
    payload["installation"]["id"] = DEMO_INSTALLATION_ID
    return payload


async def test_signed_webhooks_create_and_then_delete_a_vm(
    served: ServeProcess, compute: ComputeManagementClient, http: aiohttp.ClientSession
) -> None:
    """A queued webhook makes a VM appear in ARM; `completed` naming its runner makes the VM disappear."""
    job_id = await _real_job(served, http)
    status, body = await post(http, f"{served.url}/api/github", *signed(_queued(job_id), secret=E2E_SECRET))
    assert (status, body) == (202, {"status": "accepted", "queued": "provision"})

    async def provisioned() -> list[Any]:
        return [vm for vm in await _vms_for_job(compute, job_id) if vm.provisioning_state == "Succeeded"]

    [vm] = await _eventually(provisioned)
    assert (
        vm.tags["pool"] == "aks-prod"
        and vm.tags["forge"] == "github"
        and vm.tags["managed-by"] == "runner-fleet"
    )
    assert vm.network_profile.network_interface_configurations[0].delete_option == "Delete"
    assert vm.storage_profile.os_disk.delete_option == "Delete"
    assert vm.os_profile.custom_data is None  # ARM never returns customData

    # The release asks GitHub first: the job must really be over.
    await _cancel(served, http, job_id)
    completed = event("workflow_job.completed.json")
    completed["workflow_job"] |= {"id": job_id, "runner_name": vm.name, "runner_id": None}
    status, _ = await post(http, f"{served.url}/api/github", *signed(completed, secret=E2E_SECRET))
    assert status == 202

    async def gone() -> bool:
        return not await _vms_for_job(compute, job_id)

    await _eventually(gone)
    # The registration is not looked up: GitHub deletes a JIT runner after its job (this runner ran
    # none, which only a hand-made hook can claim; the reconciler removes such a leftover).


async def test_a_job_runs_on_a_fresh_vm_from_queue_to_done(
    served: ServeProcess, compute: ComputeManagementClient, http: aiohttp.ClientSession
) -> None:
    """A job queued in the GitHub simulator gets a VM, runs on it, and leaves no VM or registration."""
    spec = {
        "owner": "example-org",
        "repo": "platform-deploy",
        "labels": ["self-hosted", "aks-dev", "helm"],
        "duration_s": 20,
        "name": "e2e-full",
    }
    async with http.post(f"{served.github}/_sim/jobs", json=spec) as response:
        assert response.status in (200, 201)
        job = await response.json()

    async def finished() -> dict[str, Any] | None:
        current = await _sim_job(served, http, job["id"])
        return current if current["status"] == "completed" else None

    done = await _eventually(finished, within_s=60)
    assert done["conclusion"] == "success"
    runner = done["runner_name"]
    assert runner.startswith("rf-aks-dev-")

    async def cleaned() -> bool:
        names = [vm.name async for vm in compute.virtual_machines.list("rg-runners")]
        return runner not in names

    await _eventually(cleaned)


async def test_duplicate_delivery_creates_one_vm(
    served: ServeProcess, compute: ComputeManagementClient, http: aiohttp.ClientSession
) -> None:
    """The same delivery twice is answered as a duplicate, and one VM exists for the job."""
    job_id = await _real_job(served, http)
    delivery = str(uuid.uuid4())
    first = await post(
        http, f"{served.url}/api/github", *signed(_queued(job_id), secret=E2E_SECRET, delivery=delivery)
    )
    second = await post(
        http, f"{served.url}/api/github", *signed(_queued(job_id), secret=E2E_SECRET, delivery=delivery)
    )
    assert first[0] == 202
    assert second == (200, {"status": "duplicate delivery"})
    # A redelivery with a new delivery ID (as a person clicking "Redeliver" makes) still yields one VM.
    third = await post(http, f"{served.url}/api/github", *signed(_queued(job_id), secret=E2E_SECRET))
    assert third[0] == 202

    async def every_message_handled() -> bool:
        # The positive sign: each of the three provisions (the first and third deliveries, and the
        # simulator's own) made the VM, found it served, found the job taken, or waits for the one
        # holding the job.
        outcomes = (
            "vm.created",
            "provision.already_served",
            "provision.vm_exists",
            "provision.not_needed",
            "provision.deferred",
        )
        return sum(len(served.events(name, job_id=job_id)) for name in outcomes) >= 3

    await _eventually(every_message_handled)
    vms = await _vms_for_job(compute, job_id)
    # Zero would mean another aks-prod runner took the job: none is idle here (a runner whose VM an
    # earlier test deleted is offline, as on GitHub), so the job's state says who did.
    assert len(vms) == 1, await _sim_job(served, http, job_id)
    await _cancel(served, http, job_id)


@pytest.mark.parametrize(
    ("name", "event_name", "expected"),
    [
        ("workflow_job.completed_hosted.json", "workflow_job", (200, "runner not managed by runner-fleet")),
        ("workflow_job.queued_waiting.json", "workflow_job", (200, "job is waiting for approval")),
        ("workflow_job.queued_hosted.json", "workflow_job", (200, "no pool serves these labels")),
        ("ping.json", "ping", (200, "pong")),
        ("ping.json", "check_run", (200, "ignored event check_run")),
    ],
)
async def test_events_we_do_not_act_on_get_2xx_with_a_reason(
    served: ServeProcess, http: aiohttp.ClientSession, name: str, event_name: str, expected: tuple[int, str]
) -> None:
    """Hosted runners, waiting jobs, unmatched labels, pings and other events get 2xx and no action."""
    status, body = await post(
        http, f"{served.url}/api/github", *signed(event(name), event_name=event_name, secret=E2E_SECRET)
    )
    assert (status, body["status"]) == expected


async def test_contract_errors_over_http(served: ServeProcess, http: aiohttp.ClientSession) -> None:
    """Wrong signature 401, malformed body 400, body over 25 MiB 413."""
    headers, body = signed(_queued(1), secret="wrong-secret")
    assert (await post(http, f"{served.url}/api/github", headers, body))[0] == 401
    assert (await post(http, f"{served.url}/api/github", *signed(b"[1, 2", secret=E2E_SECRET)))[0] == 400
    huge = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    assert (await post(http, f"{served.url}/api/github", *signed(huge, secret=E2E_SECRET)))[0] == 413


async def test_health(served: ServeProcess, http: aiohttp.ClientSession) -> None:
    """GET /api/health answers {"status": "ok"} and nothing more."""
    async with http.get(f"{served.url}/api/health") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


def test_logs_follow_one_job_and_hold_no_secrets(served: ServeProcess) -> None:
    """JSON logs carry forge, pool, job and runner per step, and never the webhook secret or a JIT config."""
    lines = [json.loads(line) for line in served.logs.splitlines() if line.startswith("{")]
    steps = {
        "webhook.received",
        "job.matched",
        "runner.provisioning",
        "runner.registered",
        "vm.created",
        "vm.deleted",
        "runner.released",
    }
    by_job: dict[int, set[str]] = {}
    for line in lines:
        if isinstance(line.get("job_id"), int):
            by_job.setdefault(line["job_id"], set()).add(line["event"])
    followed = [job_id for job_id, events in by_job.items() if steps <= events]
    assert followed
    created = next(line for line in lines if line["event"] == "vm.created" and line.get("job_id") in followed)
    assert (
        created["forge"] == "github"
        and created["pool"] in {"aks-prod", "aks-dev"}
        and created["runner"].startswith("rf-")
    )
    assert E2E_SECRET not in served.logs
    assert "encoded_jit_config" not in served.logs and "eyJ" not in served.logs
