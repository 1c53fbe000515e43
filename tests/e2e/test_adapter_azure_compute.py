"""The Azure compute adapter through the real azure-mgmt-compute client against the ARM simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

import pytest
from azure.core.exceptions import HttpResponseError

from runner_fleet.adapters.azure.clients import ArmConnection
from runner_fleet.adapters.azure.clouds import CLOUDS
from runner_fleet.adapters.azure.compute import AzureCompute
from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from runner_fleet.ports.compute import (
    StillWanted,
    VmBeingDeleted,
    VmCreateRejected,
    VmCreateThrottled,
    VmInfo,
    VmNoLongerWanted,
    VmSpec,
)
from runner_fleet.settings.pool import Pool
from simulator.arm import FaultRule, LroFailureRule
from simulator.arm.api_versions import DEFAULT_SERVED
from simulator.stack import SimulatedCloud
from simulator.testing import eventually
from tests.builders import make_pool

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud() -> Iterator[SimulatedCloud]:
    cloud = SimulatedCloud.start(time_scale=50)
    yield cloud
    cloud.stop()


@pytest.fixture
async def compute(cloud: SimulatedCloud) -> AsyncIterator[AzureCompute]:
    adapter = AzureCompute(
        ArmConnection(
            StaticTokenCredential(),
            endpoint=cloud.arm.base_url,
            ca_bundle=str(cloud.arm.ca_bundle),
            polling_interval_s=0.05,
        )
    )
    yield adapter
    await adapter.close()


def _spec(pool: Pool, name: str, size: str | None = None) -> VmSpec:
    return VmSpec(
        name=name,
        pool=pool,
        size=size or pool.azure.vm_sizes[0],
        custom_data_b64="I2Nsb3VkLWNvbmZpZwo=",
        tags={"managed-by": "runner-fleet", "pool": pool.name, "job": "1", "runner": name},
        ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO3 test",
        spot=pool.azure.spot,
    )


def _resource(cloud: SimulatedCloud, name: str) -> dict[str, Any]:
    vm = cloud.arm.vm(name)
    assert vm is not None
    return vm


async def _create(compute: AzureCompute, spec: VmSpec, *, still_wanted: StillWanted | None = None) -> VmInfo:
    """The PUT, then the VM read until Azure settles it, as the provision's follow-ups read it; a
    capacity failure after acceptance is raised as the provision would see it."""
    await compute.start_create(spec, still_wanted=still_wanted)

    async def settled() -> VmInfo | None:
        vm = await compute.get_vm(spec.pool, spec.name)
        return vm if vm is not None and vm.provisioning_state not in ("Creating", "Updating") else None

    vm = await eventually(settled, within_s=30, poll_s=0.05, what=f"{spec.name} to settle")
    if vm.failure is not None and vm.failure.capacity:
        raise VmCreateRejected(vm.failure.code, vm.failure.message)
    return vm


@contextmanager
def _injected(cloud: SimulatedCloud, rule: FaultRule | LroFailureRule) -> Iterator[None]:
    """`rule` holds while the block runs, and is cleared however the block ends."""
    fault_id = cloud.arm.add_fault(rule)
    try:
        yield
    finally:
        cloud.arm.clear_faults(fault_id)


async def test_ephemeral_os_disk_goes_on_the_resource_disk_when_it_fits(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """Standard_D2ads_v5 has a 75 GiB resource disk: a 64 GB ephemeral OS disk is placed there."""
    pool = make_pool("eph", azure={"vm_sizes": ["Standard_D2ads_v5"], "os_disk": "ephemeral"})
    info = await _create(compute, _spec(pool, "rf-eph-0000000001"))
    assert info.provisioning_state == "Succeeded"
    vm = _resource(cloud, "rf-eph-0000000001")
    assert vm["ephemeral_os_disk"] is True
    assert vm["has_public_ip"] is False


async def test_managed_disk_when_ephemeral_does_not_fit(cloud: SimulatedCloud, compute: AzureCompute) -> None:
    """Standard_D2s_v5 has no resource disk and a 50 GiB cache: a 64 GB OS disk becomes a managed disk."""
    pool = make_pool("fit", azure={"vm_sizes": ["Standard_D2s_v5"], "os_disk": "ephemeral"})
    await _create(compute, _spec(pool, "rf-fit-0000000001"))
    assert _resource(cloud, "rf-fit-0000000001")["ephemeral_os_disk"] is False


async def test_ephemeral_in_cache_when_it_fits_there(cloud: SimulatedCloud, compute: AzureCompute) -> None:
    """A 40 GB OS disk fits the 50 GiB cache of Standard_D2s_v5 and is ephemeral there."""
    pool = make_pool("cache", azure={"vm_sizes": ["Standard_D2s_v5"], "os_disk_size_gb": 40})
    await _create(compute, _spec(pool, "rf-cache-0000000001"))
    assert _resource(cloud, "rf-cache-0000000001")["ephemeral_os_disk"] is True


async def test_get_list_and_delete(cloud: SimulatedCloud, compute: AzureCompute) -> None:
    """A created VM is found by get and list (by tag), and delete removes it with its NIC."""
    pool = make_pool("life")
    await _create(compute, _spec(pool, "rf-life-0000000001"))
    found = await compute.get_vm(pool, "rf-life-0000000001")
    assert found is not None and found.tags["pool"] == "life" and found.power_state is not None
    assert "rf-life-0000000001" in {vm.name for vm in await compute.list_vms([pool])}
    assert await compute.delete_vm(pool, "rf-life-0000000001") is True
    assert await compute.get_vm(pool, "rf-life-0000000001") is None
    assert await compute.delete_vm(pool, "rf-life-0000000001") is False
    nics = [r for r in cloud.arm.resources("Microsoft.Network/networkInterfaces") if "rf-life" in str(r)]
    assert nics == []


async def test_put_is_idempotent_for_the_same_name(cloud: SimulatedCloud, compute: AzureCompute) -> None:
    """Creating the same VM twice converges on one VM."""
    pool = make_pool("twice")
    spec = _spec(pool, "rf-twice-0000000001")
    await _create(compute, spec)
    await _create(compute, spec)
    assert [vm.name for vm in await compute.list_vms([pool]) if vm.name == spec.name] == [spec.name]


async def test_spot_vms_are_requested_as_spot(cloud: SimulatedCloud, compute: AzureCompute) -> None:
    """A spot pool's VM is created with Spot priority and eviction policy Delete."""
    pool = make_pool("spot", azure={"spot": True, "vm_sizes": ["Standard_D2ads_v5"]})
    await _create(compute, _spec(pool, "rf-spot-0000000001"))
    vm = _resource(cloud, "rf-spot-0000000001")
    assert vm["priority"] == "Spot"


async def test_capacity_errors_become_vm_create_rejected(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """An AllocationFailed from the create operation surfaces as VmCreateRejected with the code."""
    pool = make_pool("full", azure={"vm_sizes": ["Standard_D4ads_v5"]})
    with (
        _injected(cloud, LroFailureRule(code="AllocationFailed", size="Standard_D4ads_v5", count=1)),
        pytest.raises(VmCreateRejected) as caught,
    ):
        await _create(compute, _spec(pool, "rf-full-0000000001"))
    assert caught.value.code == "AllocationFailed"


async def test_server_errors_are_retried_as_a_whole_operation(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """Two injected 500s on the VM PUT are absorbed by the one retry layer; one VM results."""
    pool = make_pool("retry")
    put_fails_twice = FaultRule(
        path=r"/virtualMachines/rf-retry-0000000001$", method="PUT", status=500, count=2, retry_after_s=0.0
    )
    with _injected(cloud, put_fails_twice):
        info = await _create(compute, _spec(pool, "rf-retry-0000000001"))
    assert info.provisioning_state == "Succeeded"
    puts = [
        r
        for r in cloud.arm.request_log()
        if r["method"] == "PUT" and r["path"].endswith("rf-retry-0000000001")
    ]
    assert [r["status"] for r in puts][:3] == [500, 500, 201]


async def test_a_throttled_call_waits_as_asked_and_succeeds(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """A 429 with Retry-After is waited out (not hammered) and the operation then succeeds."""
    pool = make_pool("throttle")
    throttled = FaultRule(
        path=r"/virtualMachines$", method="GET", status=429, code="TooManyRequests", count=1, retry_after_s=1
    )
    with _injected(cloud, throttled):
        listed = await compute.list_vms([pool])
    assert isinstance(listed, list)
    statuses = [r["status"] for r in cloud.arm.request_log() if r["path"].endswith("/virtualMachines")]
    assert 429 in statuses and statuses[-1] == 200


async def test_an_allocation_failure_clears_the_failed_vm_for_the_next_size(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """After AllocationFailed the VM reads Failed with the code; once deleted, the same name is created
    with another size."""
    pool = make_pool("alloc", azure={"vm_sizes": ["Standard_F4s_v2", "Standard_D2ads_v5"]})
    with (
        _injected(cloud, LroFailureRule(code="AllocationFailed", size="Standard_F4s_v2", count=1)),
        pytest.raises(VmCreateRejected),
    ):
        await _create(compute, _spec(pool, "rf-alloc-0000000001", size="Standard_F4s_v2"))
    failed = await compute.get_vm(pool, "rf-alloc-0000000001")
    assert failed is not None and failed.provisioning_state == "Failed"
    assert failed.failure is not None and (failed.failure.code, failed.failure.capacity) == (
        "AllocationFailed",
        True,
    )
    assert await compute.delete_vm(pool, "rf-alloc-0000000001") is True
    info = await _create(compute, _spec(pool, "rf-alloc-0000000001", size="Standard_D2ads_v5"))
    assert (info.size, info.provisioning_state) == ("Standard_D2ads_v5", "Succeeded")


PINNED = CLOUDS[0].api_versions


def _requests_since(cloud: SimulatedCloud, start: int) -> list[dict[str, Any]]:
    return cloud.arm.request_log()[start:]


def _api_version(entry: dict[str, Any]) -> str:
    return str(parse_qs(entry["query"]).get("api-version", [""])[0])


async def test_every_call_sends_the_pinned_api_version(cloud: SimulatedCloud, compute: AzureCompute) -> None:
    """Each request the adapter sends carries the version the cloud table pins, never the SDK's default."""
    start = len(cloud.arm.request_log())
    pool = make_pool("pinned", azure={"vm_sizes": ["Standard_F4s_v2"]})
    await _create(compute, _spec(pool, "rf-pinned-0000000001"))
    await compute.list_vms([pool])
    await compute.delete_vm(pool, "rf-pinned-0000000001")
    sent = {
        (e["path"].rsplit("/", 1)[-1] if "/skus" in e["path"] else "vm", _api_version(e))
        for e in _requests_since(cloud, start)
    }
    assert ("skus", PINNED.resource_skus) in sent
    assert {version for kind, version in sent if kind == "vm"} == {PINNED.compute}


async def test_a_cloud_without_the_sdk_default_version_still_works(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """With Compute serving only the pinned version (a lagging cloud), create, list and delete succeed."""
    lagging = {
        kind: [PINNED.compute]
        for kind in ("Microsoft.Compute/virtualMachines", "Microsoft.Compute/locations/operations")
    }
    cloud.arm.configure(api_versions=lagging)
    try:
        pool = make_pool("lagging")
        await _create(compute, _spec(pool, "rf-lagging-0000000001"))
        assert "rf-lagging-0000000001" in {vm.name for vm in await compute.list_vms([pool])}
        assert await compute.delete_vm(pool, "rf-lagging-0000000001") is True
    finally:
        cloud.arm.configure(api_versions={kind: list(DEFAULT_SERVED[kind]) for kind in lagging})


async def test_list_reads_power_states_the_documented_way(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """list_vms never sends `$expand` on a VM list; each provisioned VM's power state comes from its
    instance view (rule arm.vm.list-expand-needs-filter would refuse the undocumented form)."""
    pool = make_pool("power")
    await _create(compute, _spec(pool, "rf-power-0000000001"))
    start = len(cloud.arm.request_log())
    listed = {vm.name: vm for vm in await compute.list_vms([pool])}
    assert listed["rf-power-0000000001"].power_state == "running"
    calls = _requests_since(cloud, start)
    assert not any("expand" in e["query"].lower() for e in calls if e["path"].endswith("/virtualMachines"))
    assert any(e["path"].endswith("/rf-power-0000000001/instanceView") for e in calls)
    await compute.delete_vm(pool, "rf-power-0000000001")


async def test_nvme_sizes_get_an_nvme_ephemeral_os_disk(cloud: SimulatedCloud, compute: AzureCompute) -> None:
    """Standard_D2ads_v6 has no resource disk or cache, only a 110 GiB NVMe disk: the OS disk goes there."""
    pool = make_pool("nvme", azure={"vm_sizes": ["Standard_D2ads_v6"], "os_disk": "ephemeral"})
    await _create(compute, _spec(pool, "rf-nvme-0000000001"))
    assert _resource(cloud, "rf-nvme-0000000001")["ephemeral_os_disk"] is True
    (body,) = [
        r["body"]
        for r in cloud.arm.resources("Microsoft.Compute/virtualMachines")
        if r["body"]["name"] == "rf-nvme-0000000001"
    ]
    assert body["properties"]["storageProfile"]["osDisk"]["diffDiskSettings"]["placement"] == "NvmeDisk"


async def test_a_zonal_overconstrained_allocation_is_a_capacity_refusal(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """OverconstrainedZonalAllocationRequest surfaces as VmCreateRejected, so the next size is tried."""
    pool = make_pool("zonal", azure={"vm_sizes": ["Standard_F4s_v2"]})
    rule = LroFailureRule(code="OverconstrainedZonalAllocationRequest", size="Standard_F4s_v2", count=1)
    with _injected(cloud, rule), pytest.raises(VmCreateRejected) as caught:
        await _create(compute, _spec(pool, "rf-zonal-0000000001"))
    assert caught.value.code == "OverconstrainedZonalAllocationRequest"
    left = await compute.get_vm(pool, "rf-zonal-0000000001")
    assert left is not None and left.provisioning_state == "Failed"  # the provision's next step deletes it


async def test_a_quota_refusal_is_a_capacity_refusal(cloud: SimulatedCloud, compute: AzureCompute) -> None:
    """OperationNotAllowed "... exceeding approved ... Cores quota" surfaces as VmCreateRejected."""
    pool = make_pool("quota", azure={"vm_sizes": ["Standard_F4s_v2"]})
    rule = LroFailureRule(code="OperationNotAllowed", size="Standard_F4s_v2", synchronous=True, count=1)
    with _injected(cloud, rule), pytest.raises(VmCreateRejected) as caught:
        await _create(compute, _spec(pool, "rf-quota-0000000001"))
    assert caught.value.code == "OperationNotAllowed" and "quota" in str(caught.value)


async def test_other_operation_not_allowed_is_a_hard_error(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """An OperationNotAllowed that is not about quota is not a capacity refusal: it surfaces as is."""
    pool = make_pool("refused", azure={"vm_sizes": ["Standard_F4s_v2"]})
    rule = LroFailureRule(
        code="OperationNotAllowed",
        message="The maximum number of data disks allowed to be attached to a VM of this size is 8.",
        size="Standard_F4s_v2",
        synchronous=True,
        count=1,
    )
    with _injected(cloud, rule), pytest.raises(HttpResponseError) as caught:
        await _create(compute, _spec(pool, "rf-refused-0000000001"))
    assert not isinstance(caught.value, VmCreateRejected)
    assert caught.value.status_code == 409


async def test_a_create_meeting_its_vm_deleting_is_refused_at_once(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """A PUT meeting a VM of its name in Deleting is refused by Resource Manager (409, nothing changed)
    and raises VmBeingDeleted at once; once the VM is gone the name is created again."""
    pool = make_pool("again")
    spec = _spec(pool, "rf-again-0000000001")
    await _create(compute, spec)
    assert await compute.delete_vm(pool, spec.name, wait=False) is True
    start = len(cloud.arm.request_log())
    with pytest.raises(VmBeingDeleted):
        await compute.start_create(spec)
    puts = [e["status"] for e in _requests_since(cloud, start) if e["method"] == "PUT"]
    assert puts == [409]
    assert (cloud.arm.vm(spec.name) or {}).get("provisioning_state") in ("Deleting", "Deleted")
    await eventually(
        lambda: (cloud.arm.vm(spec.name) or {}).get("provisioning_state") == "Deleted",
        within_s=30,
        what="the delete to finish",
    )
    info = await _create(compute, spec)
    assert info.provisioning_state == "Succeeded"


async def test_a_start_create_returns_before_the_vm_is_built(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """start_create returns as soon as the PUT is accepted: the VM still reads Creating in ARM then."""
    pool = make_pool("quick")
    spec = _spec(pool, "rf-quick-0000000001")
    info = await compute.start_create(spec)
    assert info.provisioning_state == "Creating"
    assert (cloud.arm.vm(spec.name) or {}).get("provisioning_state") == "Creating"


async def test_a_throttled_put_is_handed_back_not_waited_out(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """A 429 on the PUT raises VmCreateThrottled with Retry-After, and later creates of this process
    wait that long without sending a PUT."""
    pool = make_pool("busy")
    throttled = FaultRule(
        path=r"/virtualMachines/rf-busy-0000000001$",
        method="PUT",
        status=429,
        code="TooManyRequests",
        count=1,
        retry_after_s=3000,  # simulated: a minute of real time at the cloud's time scale
    )
    with _injected(cloud, throttled), pytest.raises(VmCreateThrottled) as caught:
        await compute.start_create(_spec(pool, "rf-busy-0000000001"))
    assert caught.value.retry_after_s > 30
    start = len(cloud.arm.request_log())
    with pytest.raises(VmCreateThrottled):
        await compute.start_create(_spec(pool, "rf-busy-0000000002"))
    assert _requests_since(cloud, start) == []
    assert 0 < compute.throttled_for() <= caught.value.retry_after_s


async def test_a_retried_create_asks_again_and_sends_no_put_for_a_vm_no_longer_wanted(
    cloud: SimulatedCloud, compute: AzureCompute
) -> None:
    """A create asks `still_wanted` before every PUT: after a failed PUT, a no stops the retry unsent."""
    pool = make_pool("unwanted")
    spec = _spec(pool, "rf-unwanted-0000000001")
    answers = iter([True, False])

    async def still_wanted() -> bool:
        return next(answers)

    start = len(cloud.arm.request_log())
    put_fails_once = FaultRule(
        path=r"/virtualMachines/rf-unwanted-0000000001$", method="PUT", status=500, count=1, retry_after_s=0.0
    )
    with _injected(cloud, put_fails_once), pytest.raises(VmNoLongerWanted):
        await compute.start_create(spec, still_wanted=still_wanted)
    puts = [
        e for e in _requests_since(cloud, start) if e["method"] == "PUT" and e["path"].endswith(spec.name)
    ]
    assert [e["status"] for e in puts] == [500]
    assert cloud.arm.vm(spec.name) is None
