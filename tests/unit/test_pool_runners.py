"""Runners made for a pool, not for a job: warm ones and the replacement of one a job took."""

import pytest

from runner_fleet import naming
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.cloudinit import RunnerBootConfig
from runner_fleet.messages import PoolRunnerRequest, ProvisionRequest, RunnerStarted, parse_provision_queue
from runner_fleet.ports.queue import PROVISION_QUEUE
from runner_fleet.state.runner_starts import RunnerStarts
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.create_runner import RunnerCreation
from runner_fleet.usecases.provision_pool_runner import PoolRunnerProvisioner
from runner_fleet.usecases.replace_runner import RunnerReplacer
from runner_fleet.workers import ProvisionWork, run_provision
from tests.builders import make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry

WARM = make_pool("warm", ("warm",), limits={"warm": 2})
COLD = make_pool("cold", ("cold",))
POOLS = {WARM.name: WARM, COLD.name: COLD}


@pytest.fixture
def state() -> FleetState:
    return FleetState(MemoryStateTable())


def _pool_provisioner(
    state: FleetState, compute: FakeCompute, registry: FakeRegistry
) -> PoolRunnerProvisioner:
    return PoolRunnerProvisioner(POOLS, state, RunnerCreation(state, compute, {"github": registry}, "k"))


async def test_a_pool_runner_is_made_once_per_key(state: FleetState) -> None:
    """The same request delivered twice makes one VM, named from its key and tagged as the pool's."""
    compute, registry = FakeCompute(), FakeRegistry()
    provision = _pool_provisioner(state, compute, registry)
    request = PoolRunnerRequest(forge="github", pool="warm", key="w1", reason="warm")
    name = naming.pool_runner_name("warm", "github", "w1")
    assert (await provision(request, message_id="m1")).outcome == "created"
    assert (await provision(request, message_id="m2")).outcome == "already-served"
    assert compute.created == [name]
    tags = compute.vms[name].tags
    assert (tags["kind"], tags["pool"], "job" in tags) == ("pool", "warm", False)
    assert await state.pool_runner_key("github", name) == "pool:w1"


def test_a_warm_gitlab_runner_waits_for_a_job_as_long_as_it_lives() -> None:
    """run-single's wait is the pool's max lifetime for a warm runner, its idle timeout otherwise."""
    pool = make_pool(
        "gl", ("gl",), forge="gitlab", github=None, gitlab={"group_id": 7}, limits={"max_lifetime_s": 7200}
    )
    cold = RunnerBootConfig("gitlab", "rf-gl-0123456789", pool, "https://gitlab.example", "glrt-x")
    warm = RunnerBootConfig("gitlab", "rf-gl-0123456789", pool, "https://gitlab.example", "glrt-x", warm=True)
    assert (cold.wait_timeout_s, warm.wait_timeout_s) == (pool.limits.idle_timeout_s, 7200)


async def _started(state: FleetState, queue: MemoryWorkQueue, pool: str, runner: str, job_id: int) -> str:
    return await RunnerReplacer(POOLS, state, queue)("github", pool, runner, job_id)


async def _sent(queue: MemoryWorkQueue) -> list[PoolRunnerRequest]:
    bodies = [m.body for m in await queue.receive(PROVISION_QUEUE, max_messages=32, visibility_timeout_s=60)]
    return [r for r in map(parse_provision_queue, bodies) if isinstance(r, PoolRunnerRequest)]


async def test_a_warm_runner_taken_by_a_job_is_replaced_once(state: FleetState) -> None:
    """A job taking a warm runner (and not provisioned itself) asks for one replacement, however often
    its start is reported; the start is noted for the reconciler."""
    queue = MemoryWorkQueue()
    provision = _pool_provisioner(state, FakeCompute(), FakeRegistry())
    await provision(PoolRunnerRequest(forge="github", pool="warm", key="w1"), message_id="m1")
    name = naming.pool_runner_name("warm", "github", "w1")
    assert await _started(state, queue, "warm", name, 7) == "replacing"
    assert await _started(state, queue, "warm", name, 7) == "replacing"
    keys = {r.key for r in await _sent(queue)}
    assert keys == {f"r-{name}"}  # one key: the second request is the same runner, made once
    assert name in await RunnerStarts(state.table).started_since("github", now=10**10, within_s=10**10)


async def test_no_replacement_when_the_job_has_its_own_runner_coming(state: FleetState) -> None:
    """A job whose own provision made a runner needs no replacement: that runner is the spare now."""
    queue, compute, registry = MemoryWorkQueue(), FakeCompute(), FakeRegistry()
    await _pool_provisioner(state, compute, registry)(
        PoolRunnerRequest(forge="github", pool="warm", key="w1"), message_id="m1"
    )
    job = await make_provisioner(POOLS, state, compute, {"github": registry})(
        _request("warm", 9), message_id="m2"
    )
    assert job.outcome == "created"
    name = naming.pool_runner_name("warm", "github", "w1")
    assert await _started(state, queue, "warm", name, 9) == "job-has-its-own"
    assert await _sent(queue) == []


async def test_runners_made_for_jobs_and_cold_pools_are_not_replaced(state: FleetState) -> None:
    """A runner made for a job, or a pool without a warm target, asks for no replacement."""
    queue = MemoryWorkQueue()
    assert (
        await _started(state, queue, "warm", naming.runner_name("warm", "github", "3"), 4) == "made-for-a-job"
    )
    await _pool_provisioner(state, FakeCompute(), FakeRegistry())(
        PoolRunnerRequest(forge="github", pool="cold", key="c1"), message_id="m1"
    )
    cold = naming.pool_runner_name("cold", "github", "c1")
    assert await _started(state, queue, "cold", cold, 5) == "no-warm-target"
    assert await _sent(queue) == []


async def test_the_provision_queue_takes_every_kind_of_message(state: FleetState) -> None:
    """The worker routes job provisions, pool runners and runner starts to their use cases."""
    queue, compute, registry = MemoryWorkQueue(), FakeCompute(), FakeRegistry()
    work = ProvisionWork(
        make_provisioner(POOLS, state, compute, {"github": registry}),
        _pool_provisioner(state, compute, registry),
        RunnerReplacer(POOLS, state, queue),
    )
    pool_runner = PoolRunnerRequest(forge="github", pool="warm", key="w9").to_json()
    result = await run_provision(pool_runner, message_id="m1", dequeue_count=1, work=work, queue=queue)
    assert result is not None and result.outcome == "created"
    name = naming.pool_runner_name("warm", "github", "w9")
    started = RunnerStarted(forge="github", pool="warm", job_id=11, runner_name=name).to_json()
    assert await run_provision(started, message_id="m2", dequeue_count=1, work=work, queue=queue) is None
    assert [r.key for r in await _sent(queue)] == [f"r-{name}"]


def _request(pool: str, job_id: int) -> ProvisionRequest:
    return ProvisionRequest(forge="github", pool=pool, job_id=job_id, org="example-org", labels=(pool,))
