"""Deregister: the registration of a GitLab runner whose job started goes; its VM stays."""

from __future__ import annotations

from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import DeregisterRequest
from runner_fleet.ports.forge import RunnerInfo, RunnerScope
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.deregister import Deregisterer
from tests.builders import make_pool
from tests.fakes import FakeRegistry

POOL = make_pool("gl-aks", forge="gitlab", github=None, gitlab={"group_id": 7})
NAME = "rf-gl-aks-0123456789"


def _request(**overrides: object) -> DeregisterRequest:
    fields: dict[str, object] = {
        "forge": "gitlab",
        "pool": POOL.name,
        "job_id": 1977,
        "runner_name": NAME,
        "runner_id": 4121,
    }
    return DeregisterRequest.model_validate(fields | overrides)


async def test_the_busy_registration_is_deleted_and_the_job_bound() -> None:
    """The runner's registration is removed even though it runs a job, and the job is bound to it."""
    registry = FakeRegistry(refuses_busy=False)
    registry.runners[4121] = RunnerInfo(4121, NAME, "online", True, ("aks-prod",), job_id=1977)
    state = FleetState(MemoryStateTable())

    result = await Deregisterer({POOL.name: POOL}, state, {"gitlab": registry})(_request())

    assert result.outcome == "deregistered"
    assert registry.removed == [4121]
    assert await state.job_binding("gitlab", "1977") == (NAME, 4121)


async def test_a_registration_already_gone_is_fine() -> None:
    """A repeated message (or a registration deleted elsewhere) is not an error."""
    registry = FakeRegistry(refuses_busy=False)
    result = await Deregisterer({POOL.name: POOL}, FleetState(MemoryStateTable()), {"gitlab": registry})(
        _request()
    )
    assert result.outcome == "already-gone"
    assert await registry.get(RunnerScope.of_pool(POOL), 4121) is None


async def test_a_runner_of_another_pool_is_left_alone() -> None:
    """A message naming a pool we do not have, or a runner not of that pool, deletes nothing."""
    registry = FakeRegistry(refuses_busy=False)
    registry.runners[4121] = RunnerInfo(4121, "someone-elses-runner", "online", True)
    deregister = Deregisterer({POOL.name: POOL}, FleetState(MemoryStateTable()), {"gitlab": registry})

    assert (await deregister(_request(runner_name="someone-elses-runner"))).outcome == "unknown-pool"
    assert (await deregister(_request(pool="other"))).outcome == "unknown-pool"
    assert registry.removed == []
