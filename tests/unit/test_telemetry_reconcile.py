"""What a reconcile round tells the metrics: actions by reason code, runners by state, the warm
figures, queue depths, and jobs that waited while their pool had room (counted once each)."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator

import pytest

from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.feeds import WaitingJob
from runner_fleet.usecases.reconcile import observed, rules
from runner_fleet.usecases.reconcile.observed import WaitWatch, reason_code
from runner_fleet.usecases.reconcile.warm_upkeep import RunnerCounts
from tests.telemetry import Recorded, recording
from tests.unit.test_reconciler import World


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    observed._WAIT_WATCHES.clear()
    with recording() as recorded:
        yield recorded
    observed._WAIT_WATCHES.clear()


def _gauge(recorded: Recorded, name: str) -> dict[tuple[str, ...], float]:
    return {tuple(point.attributes.values()): point.value for point in recorded.points(name)}


async def test_a_round_reports_runners_by_state_the_warm_figures_and_the_queue_depths(
    recorded: Recorded,
) -> None:
    """An idle runner and one that never came online (judged this round): idle 1, retiring 1, warm
    ready 1 against a target of 0, and both work queues' depths."""
    world = World()
    ready = await world.provision(1)
    await world.provision(2)  # its VM never registers a runner
    world.registry.set_status(ready, "online")
    world.clock.t += 400  # past the pool's 300 s boot timeout

    await world.reconciler()()

    assert _gauge(recorded, "runner_fleet.runners") == {("aks-prod", "idle"): 1, ("aks-prod", "retiring"): 1}
    assert _gauge(recorded, "runner_fleet.warm.target") == {("aks-prod",): 0}
    assert _gauge(recorded, "runner_fleet.warm.ready") == {("aks-prod",): 1}
    assert set(_gauge(recorded, "runner_fleet.queue.depth")) == {("provision",), ("release",)}


async def test_an_action_is_counted_with_its_reason_code_when_taken_not_when_marked(
    recorded: Recorded,
) -> None:
    """A runner that never came online: nothing counted when marked, one delete for boot-timeout when
    the next round deletes it."""
    world = World()
    await world.provision(1)
    world.clock.t += 400
    await world.reconciler()()
    assert recorded.total("runner_fleet.reconcile.actions") == 0
    world.clock.t += 60

    await world.reconciler()()

    assert recorded.total("runner_fleet.reconcile.actions", action="delete", reason="boot-timeout") == 1


async def test_a_job_waiting_past_the_threshold_while_its_pool_has_room_counts_once(
    recorded: Recorded,
) -> None:
    """Waiting 200 s (over 120) with the pool empty counts a job, once however many rounds see it; a
    job waiting 60 s counts only once it is past 120 s; each missed job's provision is an `enqueue`."""
    world = World()
    now = world.clock.t
    for job_id, waited in ((501, 200.0), (502, 60.0)):
        request = ProvisionRequest(forge="github", pool="aks-prod", job_id=job_id, org="example-org")
        world.feed.waiting.append(WaitingJob(request, now - waited))

    await world.reconciler()()
    assert recorded.total("runner_fleet.jobs.waited_with_capacity", pool="aks-prod") == 1  # 501
    world.clock.t += 90  # 502 has waited 150 s now, 501 290 s
    await world.reconciler()()

    assert recorded.total("runner_fleet.jobs.waited_with_capacity", pool="aks-prod") == 2  # then 502
    assert recorded.total("runner_fleet.reconcile.actions", action="enqueue", reason="missed-job") == 2


def test_a_pool_at_capacity_is_not_blamed_for_its_waiting_jobs() -> None:
    """With as many runners busy or coming as the pool's max, a long wait is not counted."""
    job = WaitingJob(ProvisionRequest(forge="github", pool="p", job_id=7), waiting_since=0.0)
    watch = WaitWatch(threshold_s=120)
    assert watch.note("p", [job], RunnerCounts(busy=3, coming=1), max_runners=4, now=1000.0) == 0
    assert watch.note("p", [job], RunnerCounts(busy=3), max_runners=4, now=1000.0) == 1
    assert watch.note("p", [job], RunnerCounts(), max_runners=4, now=1060.0) == 0


def _rule_reasons() -> list[str]:
    """Every reason text the rules give a verdict, numbers filled in."""
    tree = ast.parse(inspect.getsource(rules))
    texts: list[str] = []
    for node in ast.walk(tree):
        values: list[ast.expr] = []
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Verdict" and len(node.args) >= 3:
            values.append(node.args[2])
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "reason" for t in node.targets):
            values.append(node.value)
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                texts.append(value.value)
            elif isinstance(value, ast.JoinedStr):
                texts.append(
                    "".join(str(v.value) if isinstance(v, ast.Constant) else "600" for v in value.values)
                )
    return texts


def test_every_reason_the_rules_give_has_a_code() -> None:
    """Each verdict reason in the rules maps to a fixed code (the reasons carry numbers, the codes not)."""
    reasons = _rule_reasons()
    assert len(reasons) >= 8
    assert {reason: reason_code(reason) for reason in reasons if reason_code(reason) == "other"} == {}
    assert reason_code("idle for more than 600s") == "idle-timeout"
    assert (
        reason_code("idle for more than 600s; beyond the warm target (2)")
        == "idle-timeout-beyond-warm-target"
    )
    assert (
        reason_code("probe VM past its expires-at (its doctor --probe did not delete it)") == "probe-expired"
    )
    assert reason_code("something new") == "other"
