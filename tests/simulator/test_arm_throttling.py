"""Throttling: ARM's per-principal buckets and Compute's PutVM/DeleteVM buckets, their headers,
and the SDK's own retry honouring Retry-After."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient

from simulator.arm import ArmSimulator
from simulator.arm.samples import runner_vm_body as runner_vm_json

RG = "rg-runners"


def runner_vm_body(name: str, **options: Any) -> cm.VirtualMachine:
    """The runner VM PUT as the SDK model the service sends (built from its wire JSON)."""
    return cm.VirtualMachine(runner_vm_json(name, **options))


def response_headers(error: HttpResponseError) -> Any:
    response: Any = error.response  # typed as the transport-neutral base, which hides `headers`
    return response.headers


def tiny_put_bucket(refill_per_s: float) -> dict[str, Any]:
    return {"compute": {"PutVM": {"PutVM3Min": {"capacity": 1, "refill_per_s": refill_per_s}}}}


async def test_normal_answers_carry_remaining_quota_headers(compute: ComputeManagementClient) -> None:
    """Answers carry x-ms-ratelimit-remaining-subscription-* and Compute's remaining-resource header."""
    seen: list[PipelineResponse[Any, Any]] = []
    poller = await compute.virtual_machines.begin_create_or_update(
        RG, "vm-hdr", runner_vm_body("vm-hdr"), raw_response_hook=seen.append
    )
    await poller.result()
    put = seen[0].http_response.headers
    assert put["x-ms-ratelimit-remaining-subscription-writes"] == "199"
    assert (
        put["x-ms-ratelimit-remaining-resource"]
        == "Microsoft.Compute/PutVM3Min;239,Microsoft.Compute/PutVM30Min;1199"
    )

    seen.clear()
    await compute.virtual_machines.get(RG, "vm-hdr", raw_response_hook=seen.append)
    get = seen[0].http_response.headers
    assert int(get["x-ms-ratelimit-remaining-subscription-reads"]) < 250
    assert get["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/LowCostGet3Min;")


async def test_empty_put_bucket_answers_429_with_retry_after(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """With the PutVM bucket empty a PUT gets 429 TooManyRequests with Retry-After and creates nothing."""
    sim.configure(throttling=tiny_put_bucket(refill_per_s=1 / 180))
    compute = compute_for(sim, retry_total=0)
    await compute.virtual_machines.begin_create_or_update(RG, "vm-t1", runner_vm_body("vm-t1"))

    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update(RG, "vm-t2", runner_vm_body("vm-t2"))
    error = caught.value
    assert error.status_code == 429
    assert error.error is not None
    assert error.error.code == "TooManyRequests"
    headers = response_headers(error)
    expected_ms = sim.clock.real(180) * 1000
    assert int(headers["Retry-After"]) >= 1
    assert abs(int(headers["retry-after-ms"]) - expected_ms) <= 0.05 * expected_ms
    assert headers["x-ms-ratelimit-remaining-resource"] == "Microsoft.Compute/PutVM3Min;0"
    assert [vm["name"] for vm in sim.vms()] == ["vm-t1"]


async def test_sdk_retry_honours_retry_after_and_succeeds_after_refill(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """The SDK waits Retry-After on a 429 and its retry succeeds once the bucket has refilled."""
    sim.configure(throttling=tiny_put_bucket(refill_per_s=0.1))  # one token per 10 s simulated, 0.5 s real
    await compute.virtual_machines.begin_create_or_update(RG, "vm-r1", runner_vm_body("vm-r1"))

    started = time.monotonic()
    poller = await compute.virtual_machines.begin_create_or_update(RG, "vm-r2", runner_vm_body("vm-r2"))
    waited = time.monotonic() - started
    vm = await poller.result()

    assert vm.provisioning_state == "Succeeded"
    assert 0.95 <= waited < 3.0  # Retry-After: 1 (the header's whole-second floor)
    puts = [(e["status"], e.get("error_code")) for e in sim.request_log() if e["method"] == "PUT"]
    assert puts == [(201, None), (429, "TooManyRequests"), (201, None)]


async def test_arm_write_bucket_is_per_principal(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """ARM's write bucket is per principal: one caller is throttled, another is not."""
    sim.configure(throttling={"arm_writes": {"capacity": 2, "refill_per_s": 0.001}})
    first = compute_for(sim, principal="principal-a", retry_total=0)
    second = compute_for(sim, principal="principal-b", retry_total=0)
    for name in ("vm-p1", "vm-p2"):
        await first.virtual_machines.begin_create_or_update(RG, name, runner_vm_body(name))

    with pytest.raises(HttpResponseError) as caught:
        await first.virtual_machines.begin_create_or_update(RG, "vm-p3", runner_vm_body("vm-p3"))
    assert caught.value.status_code == 429
    assert caught.value.error is not None
    assert caught.value.error.code == "SubscriptionRequestsThrottled"
    assert response_headers(caught.value)["x-ms-ratelimit-remaining-subscription-writes"] == "0"

    await second.virtual_machines.begin_create_or_update(RG, "vm-p3", runner_vm_body("vm-p3"))
    assert sorted(vm["name"] for vm in sim.vms()) == ["vm-p1", "vm-p2", "vm-p3"]


async def test_delete_bucket_throttles_deletes(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """Deletes draw from the DeleteVM buckets, independent of PutVM."""
    compute = compute_for(sim, retry_total=0)
    for name in ("vm-d1", "vm-d2"):
        await (await compute.virtual_machines.begin_create_or_update(RG, name, runner_vm_body(name))).result()
    sim.configure(throttling={"compute": {"DeleteVM": {"DeleteVM3Min": {"capacity": 1, "window_s": 180}}}})

    await compute.virtual_machines.begin_delete(RG, "vm-d1")
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_delete(RG, "vm-d2")
    assert caught.value.status_code == 429
    assert caught.value.error is not None
    assert "DeleteVM3Min" in (caught.value.error.message or "")


async def test_throttling_can_be_switched_off(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """With throttling disabled even tiny buckets never answer 429, and no quota headers are sent."""
    sim.configure(throttling={**tiny_put_bucket(0.0), "enabled": False})
    compute = compute_for(sim, retry_total=0)
    seen: list[PipelineResponse[Any, Any]] = []
    for name in ("vm-o1", "vm-o2", "vm-o3"):
        await compute.virtual_machines.begin_create_or_update(
            RG, name, runner_vm_body(name), raw_response_hook=seen.append
        )
    assert len(sim.vms()) == 3
    assert "x-ms-ratelimit-remaining-resource" not in seen[-1].http_response.headers
