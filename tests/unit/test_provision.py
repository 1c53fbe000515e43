import base64

import pytest
import yaml

from runner_fleet import naming
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.compute import VmCreateRejected, VmSpec
from runner_fleet.ports.forge import RunnerScope
from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.create_runner import ProvisionRetryLater
from runner_fleet.usecases.provision import Provisioner
from tests.builders import make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry

POOL = make_pool("aks-prod", ("aks-prod",))
REQUEST = ProvisionRequest(
    forge="github", pool="aks-prod", job_id=42, org="example-org", labels=("aks-prod",)
)
NAME = naming.runner_name("aks-prod", "github", "42")


@pytest.fixture
def compute() -> FakeCompute:
    return FakeCompute()


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def state() -> FleetState:
    return FleetState(MemoryStateTable())


@pytest.fixture
def provision(compute: FakeCompute, registry: FakeRegistry, state: FleetState) -> Provisioner:
    return make_provisioner({"aks-prod": POOL}, state, compute, {"github": registry}, "ssh-ed25519 AAAA test")


async def test_creates_one_registration_and_one_vm(
    provision: Provisioner, compute: FakeCompute, registry: FakeRegistry, state: FleetState
) -> None:
    """A queued job gets one JIT registration and one VM with the same deterministic name."""
    result = await provision(REQUEST, message_id="m1")
    assert (result.outcome, result.runner_name) == ("created", NAME)
    assert registry.registrations == [NAME] and compute.created == [NAME]
    record = await state.job("github", "42")
    assert record is not None and record.data["state"] == "provisioned"


async def test_vm_carries_tags_and_the_jit_config(provision: Provisioner, compute: FakeCompute) -> None:
    """The VM is tagged with pool, forge, runner and job, and its custom data holds the JIT config."""
    await provision(REQUEST, message_id="m1")
    spec = compute.vms[NAME]
    assert {k: spec.tags[k] for k in ("managed-by", "pool", "forge", "runner", "job")} == {
        "managed-by": "runner-fleet",
        "pool": "aks-prod",
        "forge": "github",
        "runner": NAME,
        "job": "42",
    }
    user_data = yaml.safe_load(base64.b64decode(spec.custom_data_b64))
    secret = next(f for f in user_data["write_files"] if f["path"].endswith("runner.secret"))
    assert base64.b64decode(secret["content"]).decode() == f"jit-secret-for-{NAME}"
    assert spec.size == "Standard_D2ads_v5"


async def test_a_second_delivery_of_the_same_job_does_nothing(
    provision: Provisioner, compute: FakeCompute, registry: FakeRegistry
) -> None:
    """Provisioning the same job twice (another message) creates nothing the second time."""
    await provision(REQUEST, message_id="m1")
    result = await provision(REQUEST, message_id="m2")
    assert result.outcome == "already-served"
    assert len(compute.created) == 1 and len(registry.registrations) == 1


async def test_a_concurrent_worker_defers_instead_of_duplicating(
    provision: Provisioner, state: FleetState, compute: FakeCompute
) -> None:
    """While another worker holds the job's lease, a second worker is told to retry later."""
    await state.claim_job("github", "42", runner_name=NAME, pool="aks-prod", owner="other", lease_s=600)
    with pytest.raises(ProvisionRetryLater) as caught:
        await provision(REQUEST, message_id="m2")
    assert caught.value.delay_s > 0
    assert compute.created == []


async def test_an_expired_lease_is_taken_over(
    provision: Provisioner, state: FleetState, compute: FakeCompute
) -> None:
    """A lease left by a crashed worker is taken over once it expires."""
    await state.claim_job("github", "42", runner_name=NAME, pool="aks-prod", owner="dead", lease_s=-1)
    assert (await provision(REQUEST, message_id="m2")).outcome == "created"
    assert compute.created == [NAME]


async def test_retry_after_crash_before_vm_replaces_the_stale_registration(
    provision: Provisioner, registry: FakeRegistry, compute: FakeCompute
) -> None:
    """A registration left by an attempt that died before its VM is replaced, not reused."""
    stale = await registry.register(_scope(), NAME)
    result = await provision(REQUEST, message_id="m1")
    assert result.outcome == "created"
    assert stale.runner_id in registry.removed
    assert len([r for r in registry.runners.values() if r.name == NAME]) == 1


async def test_retry_after_crash_after_vm_is_a_no_op(
    provision: Provisioner, compute: FakeCompute, registry: FakeRegistry, state: FleetState
) -> None:
    """If the VM already exists (the last attempt died after the PUT), the step completes without
    registering or creating again."""
    await provision(REQUEST, message_id="m1")
    await state.mark_job("github", "42", "provisioning")
    registrations = list(registry.registrations)
    result = await provision(REQUEST, message_id="m1")
    assert result.outcome == "created"
    assert (registry.registrations, compute.created) == (registrations, [NAME])


@pytest.mark.parametrize(
    ("provisioning_state", "power_state"),
    [("Deleting", "running"), ("Succeeded", "stopped"), ("Succeeded", "deallocated"), ("Failed", "running")],
)
async def test_a_vm_going_away_is_not_counted_as_the_jobs_runner(
    provision: Provisioner,
    compute: FakeCompute,
    state: FleetState,
    provisioning_state: str,
    power_state: str,
) -> None:
    """A job whose VM ran another job and is deleting, powered off or failed waits, then gets a new VM."""
    await provision(REQUEST, message_id="m1")
    await state.reopen_job("github", "42")  # its runner ran another job; a release is deleting it
    compute.provisioning[NAME], compute.power[NAME] = provisioning_state, power_state
    with pytest.raises(ProvisionRetryLater):
        await provision(REQUEST, message_id="m2")
    record = await state.job("github", "42")
    assert record is None or record.data["state"] == "reaped"  # no lease held, not marked served
    del compute.vms[NAME], compute.provisioning[NAME], compute.power[NAME]
    assert (await provision(REQUEST, message_id="m2")).outcome == "created"
    assert compute.created == [NAME, NAME]


async def test_failed_vm_create_removes_the_registration(
    provision: Provisioner, compute: FakeCompute, registry: FakeRegistry, state: FleetState
) -> None:
    """When every size is refused, the runner registration just made is deleted, no lease is held and
    the job is deferred to a fresh message."""
    compute.fail_create = VmCreateRejected("AllocationFailed", "no capacity")
    result = await provision(REQUEST, message_id="m1")
    assert result.outcome == "deferred" and result.follow_up is not None
    assert registry.runners == {}
    assert await state.job("github", "42") is None


async def test_a_job_settled_while_its_vm_is_being_made_gets_no_vm(
    provision: Provisioner, compute: FakeCompute, registry: FakeRegistry, state: FleetState
) -> None:
    """A job settled before the create's PUT (a retried create after a 504) makes no VM and holds no slot."""

    async def job_ends_meanwhile(spec: VmSpec) -> None:
        await state.settle_job("github", "42")

    compute.on_create = job_ends_meanwhile
    result = await provision(REQUEST, message_id="m1")
    assert (result.outcome, result.runner_name) == ("not-needed", NAME)
    assert compute.created == [] and registry.runners == {}
    assert await state.slots("aks-prod") == {}
    record = await state.job("github", "42")
    assert record is not None and record.data["state"] == "done"


async def test_a_job_reopened_while_its_vm_is_being_made_gets_no_vm(
    provision: Provisioner, compute: FakeCompute, registry: FakeRegistry, state: FleetState
) -> None:
    """A create retried after a 504 whose first VM's runner ran another job, and was released, makes
    no VM: the release reopened the job (the runner made for it is gone, its registration used), so
    a VM made now under that name would boot a spent registration and serve nothing."""

    async def runner_ran_another_job_and_was_released(spec: VmSpec) -> None:
        await state.reopen_job("github", "42")

    compute.on_create = runner_ran_another_job_and_was_released
    result = await provision(REQUEST, message_id="m1")
    assert (result.outcome, result.runner_name) == ("not-needed", NAME)
    assert compute.created == [] and registry.runners == {}
    assert await state.slots("aks-prod") == {}
    record = await state.job("github", "42")
    assert record is not None and record.data["state"] == "reaped"  # free for the next provision


async def test_a_job_whose_lease_was_taken_over_while_its_vm_is_being_made_gets_no_vm(
    provision: Provisioner, compute: FakeCompute, registry: FakeRegistry, state: FleetState
) -> None:
    """A create that outlived its lease, and another provision claimed the job meanwhile, makes no VM:
    the job is the other provision's now."""

    async def another_provision_takes_over(spec: VmSpec) -> None:
        record = await state.job("github", "42")
        assert record is not None
        await state.table.replace(record, {**record.data, "owner": "m2"})

    compute.on_create = another_provision_takes_over
    result = await provision(REQUEST, message_id="m1")
    assert result.outcome == "not-needed" and compute.created == []


async def test_unknown_pool_is_dropped(provision: Provisioner, compute: FakeCompute) -> None:
    """A message for a pool that is no longer configured creates nothing."""
    result = await provision(REQUEST.model_copy(update={"pool": "gone"}), message_id="m1")
    assert result.outcome == "unknown-pool" and compute.created == []


def _scope() -> RunnerScope:
    return RunnerScope(POOL, "example-org")


class _FailingPreflight:
    def __init__(self, recheck_in_s: float | None = None) -> None:
        self.checked: list[str] = []
        self.recheck_in_s = recheck_in_s

    async def check(self, pool: Pool) -> PreflightReport:
        self.checked.append(pool.name)
        failing = CheckResult(
            "dns-link", "fail", "/subscriptions/x/privateDnsZones/z", "no link", "link the zone"
        )
        return PreflightReport(pool.name, (failing,), recheck_in_s=self.recheck_in_s)

    async def close(self) -> None:
        return None


async def test_a_pool_failing_preflight_gets_no_vm_and_the_job_waits(
    compute: FakeCompute, registry: FakeRegistry, state: FleetState
) -> None:
    """When preflight fails, nothing is registered or created, and the job is deferred, not dropped."""
    gate = _FailingPreflight()
    provision = make_provisioner(
        {"aks-prod": POOL}, state, compute, {"github": registry}, "ssh-ed25519 AAAA", preflight=gate
    )
    with pytest.raises(ProvisionRetryLater) as caught:
        await provision(REQUEST, message_id="m1")
    assert caught.value.reason == "preflight failed" and caught.value.delay_s > 0
    assert gate.checked == ["aks-prod"]
    assert compute.created == [] and registry.registrations == []
    assert await state.job("github", "42") is None


async def test_a_job_held_back_by_its_gate_is_tried_again_when_the_gate_looks_again(
    compute: FakeCompute, registry: FakeRegistry, state: FleetState
) -> None:
    """A gate that will look at the pool again in 30 s (its check could not run) defers the job 30 s."""
    provision = make_provisioner(
        {"aks-prod": POOL}, state, compute, {"github": registry}, preflight=_FailingPreflight(30.0)
    )
    with pytest.raises(ProvisionRetryLater) as caught:
        await provision(REQUEST, message_id="m1")
    assert caught.value.delay_s == 30.0
