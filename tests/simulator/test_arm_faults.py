"""Injected failures: request-level errors and timeouts, LRO failures by size and priority, and
the HTTP control API that manages them."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient

from simulator.arm import ArmSimulator, FaultRule, LroFailureRule
from simulator.arm.samples import runner_vm_body as runner_vm_json
from simulator.testing import eventually

RG = "rg-runners"


def runner_vm_body(name: str, **options: Any) -> cm.VirtualMachine:
    """The runner VM PUT as the SDK model the service sends (built from its wire JSON)."""
    return cm.VirtualMachine(runner_vm_json(name, **options))


async def create(compute: ComputeManagementClient, name: str, **body: Any) -> Any:
    poller = await compute.virtual_machines.begin_create_or_update(RG, name, runner_vm_body(name, **body))
    return await poller.result()


async def test_injected_500_is_retried_by_the_sdk(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """A PUT failing once with 500 is retried by the SDK and the VM is created."""
    sim.add_fault(FaultRule(method="PUT", path=r"/virtualMachines/vm-f1$", status=500, count=1))
    vm = await create(compute, "vm-f1")
    assert vm.provisioning_state == "Succeeded"
    puts = [(e["status"], e.get("error_code")) for e in sim.request_log() if e["method"] == "PUT"]
    assert puts == [(500, "InternalServerError"), (201, None)]


async def test_count_limits_how_many_requests_fail(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """A rule with count=2 fails exactly the next two matching requests, with its status and code."""
    compute = compute_for(sim, retry_total=0)
    sim.add_fault(FaultRule(method="PUT", path="/virtualMachines/", status=409, code="Conflict", count=2))
    for _ in range(2):
        with pytest.raises(HttpResponseError) as caught:
            await compute.virtual_machines.begin_create_or_update(RG, "vm-f2", runner_vm_body("vm-f2"))
        assert caught.value.status_code == 409
        assert caught.value.error is not None
        assert caught.value.error.code == "Conflict"
    await compute.virtual_machines.begin_create_or_update(RG, "vm-f2", runner_vm_body("vm-f2"))
    assert [vm["name"] for vm in sim.vms()] == ["vm-f2"]
    assert sim.config_summary()["faults"] == []


async def test_probability_zero_never_fires_and_one_always_fires(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """Probability 0 never fails a request; probability 1 fails every matching request."""
    compute = compute_for(sim, retry_total=0)
    sim.add_fault(
        FaultRule(method="GET", path="/skus", status=503, code="ServiceUnavailable", probability=0.0)
    )
    assert [s.name async for s in compute.resource_skus.list()]
    sim.clear_faults()
    sim.add_fault(
        FaultRule(method="GET", path="/skus", status=503, code="ServiceUnavailable", probability=1.0)
    )
    for _ in range(3):
        with pytest.raises(HttpResponseError) as caught:
            [s.name async for s in compute.resource_skus.list()]
        assert caught.value.status_code == 503


async def test_timeout_holds_the_request_then_answers_504(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """The timeout action holds the request for hold_s, then answers 504 GatewayTimeout."""
    compute = compute_for(sim, retry_total=0)
    sim.add_fault(FaultRule(method="GET", path="/skus", action="timeout", hold_s=10.0))
    started = time.monotonic()
    with pytest.raises(HttpResponseError) as caught:
        [s.name async for s in compute.resource_skus.list()]
    assert time.monotonic() - started >= sim.clock.real(10.0) * 0.9
    assert caught.value.status_code == 504
    assert caught.value.error is not None
    assert caught.value.error.code == "GatewayTimeout"


async def test_timeout_can_drop_the_connection(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """With close_connection the held request gets no answer at all; the SDK sees a transport error."""
    compute = compute_for(sim, retry_total=0)
    sim.add_fault(FaultRule(method="GET", path="/skus", action="timeout", hold_s=2.0, close_connection=True))
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        [s.name async for s in compute.resource_skus.list()]
    assert sim.request_log()[-1]["status"] == 0


async def test_lro_allocation_failure_surfaces_with_its_code(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """An AllocationFailed operation raises HttpResponseError with that code; the VM stays Failed."""
    sim.add_fault(LroFailureRule(code="AllocationFailed", size="Standard_D2ads_v5"))
    with pytest.raises(HttpResponseError) as caught:
        await create(compute, "vm-alloc-1")
    assert caught.value.error is not None
    assert caught.value.error.code == "AllocationFailed"
    assert "sufficient capacity" in (caught.value.error.message or "")

    vm = await compute.virtual_machines.get(RG, "vm-alloc-1", expand="instanceView")
    assert vm.provisioning_state == "Failed"
    assert vm.instance_view.statuses[0].code == "ProvisioningState/failed/AllocationFailed"
    snapshot = sim.vm("vm-alloc-1")
    assert snapshot is not None
    assert snapshot["failure"]["code"] == "AllocationFailed"


async def test_an_accepted_create_that_fails_later_reads_failed_everywhere(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """Rule arm.vm.async-failure: a VM accepted 201 Creating turns Failed with its code; it can be deleted."""
    sim.add_fault(LroFailureRule(code="ZonalAllocationFailed", after_s=1.0))
    seen: list[Any] = []
    await compute.virtual_machines.begin_create_or_update(
        RG, "vm-later", runner_vm_body("vm-later"), raw_response_hook=seen.append
    )
    initial = seen[0].http_response
    assert (initial.status_code, initial.json()["properties"]["provisioningState"]) == (201, "Creating")

    async def failed() -> Any:
        vm = await compute.virtual_machines.get(RG, "vm-later", expand="instanceView")
        return vm if vm.provisioning_state == "Failed" else None

    vm = await eventually(failed, what="the create failing")
    expected = {
        "code": "ProvisioningState/failed/ZonalAllocationFailed",
        "level": "Error",
        "display_status": "Provisioning failed",
    }
    first = vm.instance_view.statuses[0]
    assert {k: getattr(first, k) for k in expected} == expected
    assert "sufficient capacity" in first.message
    view = await compute.virtual_machines.instance_view(RG, "vm-later")
    assert next((v.code, v.level) for v in view.statuses or []) == (expected["code"], "Error")
    operation = await compute.send_request(HttpRequest("GET", initial.headers["Azure-AsyncOperation"]))
    assert operation.status_code == 200
    body = operation.json()
    assert (body["status"], body["error"]["code"]) == ("Failed", "ZonalAllocationFailed")

    await (await compute.virtual_machines.begin_delete(RG, "vm-later")).result()
    with pytest.raises(ResourceNotFoundError):
        await compute.virtual_machines.get(RG, "vm-later")
    assert sim.vms() == []


async def test_size_fallback_after_allocation_failure(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """A failure rule for one size leaves other sizes alone, so a caller can fall back."""
    sim.add_fault(LroFailureRule(code="ZonalAllocationFailed", size="Standard_D2ads_v5"))
    with pytest.raises(HttpResponseError):
        await create(compute, "vm-size-a")
    await (await compute.virtual_machines.begin_delete(RG, "vm-size-a")).result()
    vm = await create(compute, "vm-size-b", size="Standard_D4ads_v5")
    assert vm.provisioning_state == "Succeeded"


async def test_spot_quota_error_then_regular_succeeds(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """A synchronous quota rule for Spot rejects the Spot PUT (creating nothing); Regular succeeds."""
    compute = compute_for(sim, retry_total=0)
    sim.add_fault(LroFailureRule(code="OperationNotAllowed", priority="Spot", synchronous=True))
    with pytest.raises(HttpResponseError) as caught:
        await create(compute, "vm-spot", priority="Spot")
    assert caught.value.status_code == 409
    assert caught.value.error is not None
    assert caught.value.error.code == "OperationNotAllowed"
    assert "LowPriorityCores" in (caught.value.error.message or "")
    assert sim.vms() == []

    vm = await create(compute, "vm-spot")
    assert vm.provisioning_state == "Succeeded"


async def test_lro_failure_can_be_counted(sim: ArmSimulator, compute: ComputeManagementClient) -> None:
    """An LRO failure rule with count=1 fails one create; the next create succeeds."""
    sim.add_fault(LroFailureRule(code="OverconstrainedAllocationRequest", count=1))
    with pytest.raises(HttpResponseError) as caught:
        await create(compute, "vm-oc-1")
    assert caught.value.error is not None
    assert caught.value.error.code == "OverconstrainedAllocationRequest"
    assert (await create(compute, "vm-oc-2")).provisioning_state == "Succeeded"


async def test_re_put_of_a_failed_vm_retries_the_allocation(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """PUT on a VM left Failed retries provisioning, which can then succeed."""
    sim.add_fault(LroFailureRule(code="AllocationFailed", count=1))
    with pytest.raises(HttpResponseError):
        await create(compute, "vm-retry")
    vm = await create(compute, "vm-retry")
    assert vm.provisioning_state == "Succeeded"


async def test_deleting_a_vm_being_created_cancels_the_create(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """Deleting a VM still being created ends the create operation as Canceled (OperationPreempted)."""
    poller = await compute.virtual_machines.begin_create_or_update(RG, "vm-pre", runner_vm_body("vm-pre"))
    await (await compute.virtual_machines.begin_delete(RG, "vm-pre")).result()
    with pytest.raises(HttpResponseError) as caught:
        await poller.result()
    assert caught.value.error is not None
    assert caught.value.error.code == "OperationPreempted"
    assert sim.vms() == []


@pytest.fixture
async def control(sim: ArmSimulator) -> AsyncIterator[aiohttp.ClientSession]:
    context = ssl.create_default_context(cafile=str(sim.ca_bundle))
    async with aiohttp.ClientSession(
        base_url=sim.base_url, connector=aiohttp.TCPConnector(ssl=context)
    ) as session:
        yield session


async def test_control_api_adds_and_clears_faults(
    sim: ArmSimulator, control: aiohttp.ClientSession, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """POST /_sim/faults adds request and LRO rules; DELETE /_sim/faults removes them all."""
    compute = compute_for(sim, retry_total=0)
    async with control.post(
        "/_sim/faults", json={"method": "GET", "path": "/skus", "status": 503, "code": "ServiceUnavailable"}
    ) as resp:
        assert resp.status == 201
        assert (await resp.json())["kind"] == "request"
    async with control.post("/_sim/faults", json={"kind": "lro", "code": "AllocationFailed"}) as resp:
        assert resp.status == 201
    with pytest.raises(HttpResponseError):
        [s.name async for s in compute.resource_skus.list()]
    assert len(sim.config_summary()["faults"]) == 2

    async with control.delete("/_sim/faults") as resp:
        assert (await resp.json()) == {"removed": 2}
    assert [s.name async for s in compute.resource_skus.list()]
    async with control.post("/_sim/faults", json={"kind": "weird"}) as resp:
        assert resp.status == 400


async def test_control_api_changes_config_and_shows_state(
    sim: ArmSimulator, control: aiohttp.ClientSession, compute: ComputeManagementClient
) -> None:
    """POST /_sim/config changes timings at run time; /_sim/vms, console and requests report state."""
    async with control.post("/_sim/config", json={"provisioning_s": 2.0, "latency_ms": [0, 5]}) as resp:
        assert resp.status == 200
        assert (await resp.json())["timing"]["provisioning_s"] == 2.0
    started = time.monotonic()
    await create(compute, "vm-ctl")
    assert time.monotonic() - started < sim.clock.real(6.0)

    async with control.get("/_sim/vms") as resp:
        (vm,) = (await resp.json())["value"]
        assert (vm["name"], vm["provisioning_state"]) == ("vm-ctl", "Succeeded")
    async with control.get("/_sim/vms/vm-ctl/console") as resp:
        assert any("Provisioning succeeded" in line for line in (await resp.json())["lines"])
    async with control.get("/_sim/requests") as resp:
        log = (await resp.json())["value"]
        assert log[0]["method"] == "PUT"
        assert log[0]["status"] == 201
    async with control.post("/_sim/config", json={"no_such_knob": 1}) as resp:
        assert resp.status == 400


async def test_latency_delays_every_arm_request(sim: ArmSimulator, compute: ComputeManagementClient) -> None:
    """Configured latency (simulated ms, uniform in [min, max]) delays each ARM answer."""
    sim.configure(latency_ms=(2000, 2000))
    started = time.monotonic()
    [s.name async for s in compute.resource_skus.list()]
    assert time.monotonic() - started >= sim.clock.real(2.0) * 0.9
    assert sim.request_log()[-1]["duration_ms"] >= sim.clock.real(2.0) * 900
