"""The reconciler's pure rules: what each observed runner needs, and what it must never get."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runner_fleet.ports.compute import VmInfo
from runner_fleet.ports.forge import RunnerInfo
from runner_fleet.settings.pool import Pool
from runner_fleet.usecases.reconcile.rules import BUSY_LAG_GUARD_S, RunnerView, Verdict, decide, keep_warm
from tests.builders import make_pool

NOW = 1_800_000_000.0
POOL = make_pool(
    "aks-prod", limits={"boot_timeout_s": 300, "idle_timeout_s": 600, "max_lifetime_s": 3600, "warm": 0}
)


def _view(
    *,
    vm: bool = True,
    power: str | None = "running",
    state: str = "Succeeded",
    status: str | None = "online",
    busy: bool = False,
    age: float = 60.0,
    lease: bool = False,
    idle_for: float | None = None,
    pool: Pool = POOL,
) -> RunnerView:
    info = VmInfo(
        "rf-aks-prod-0000000001", "rg", "Standard_D2ads_v5", {"managed-by": "runner-fleet"}, state, power
    )
    registration = RunnerInfo(7, "rf-aks-prod-0000000001", status, busy) if status is not None else None
    return RunnerView(
        "rf-aks-prod-0000000001",
        pool,
        info if vm else None,
        registration,
        NOW - age,
        lease,
        NOW - idle_for if idle_for is not None else None,
    )


def _action(view: RunnerView) -> str | None:
    verdict = decide(view, NOW)
    return verdict.action if verdict else None


def test_a_vm_booting_within_its_timeout_is_left_alone() -> None:
    """An offline runner younger than the boot timeout is not touched."""
    assert _action(_view(status="offline", age=120)) is None


def test_a_runner_that_never_came_online_is_deleted() -> None:
    """An offline runner older than the boot timeout is deleted with its VM."""
    verdict = decide(_view(status="offline", age=301), NOW)
    assert verdict is not None and verdict.action == "delete" and "never came online" in verdict.reason


def test_a_busy_runner_is_never_touched_before_max_lifetime() -> None:
    """Busy runners are left alone whatever their idle, boot or registration state."""
    assert _action(_view(busy=True, age=3000, idle_for=2000)) is None


def test_past_max_lifetime_even_a_busy_runner_goes_loudly() -> None:
    """Past the max lifetime a runner is deleted; a busy one is flagged loud."""
    verdict = decide(_view(busy=True, age=3601), NOW)
    assert verdict is not None and verdict.action == "delete" and verdict.loud


def test_a_powered_off_vm_is_deleted() -> None:
    """Our cloud-init powers the VM off when the runner exits: the VM is deleted."""
    assert _action(_view(power="stopped")) == "delete"
    assert _action(_view(power="deallocated", status=None)) == "delete"


def test_a_failed_vm_is_deleted() -> None:
    """A VM in provisioningState Failed is deleted."""
    assert _action(_view(state="Failed", status="offline")) == "delete"


def test_a_vm_whose_registration_is_gone_is_deleted() -> None:
    """A JIT runner removes itself after its job; its VM is then deleted."""
    assert _action(_view(status=None)) == "delete"


GITLAB_POOL = make_pool(
    "aks-prod",
    forge="gitlab",
    github=None,
    gitlab={"group_id": 100},
    limits={"boot_timeout_s": 300, "idle_timeout_s": 600, "max_lifetime_s": 3600, "warm": 0},
)


def test_a_busy_gitlab_runner_loses_its_registration_but_keeps_its_vm() -> None:
    """A GitLab runner running a job is deregistered (its token would take more jobs); nothing else."""
    verdict = decide(_view(busy=True, age=3000, pool=GITLAB_POOL), NOW)
    assert verdict is not None and verdict.action == "deregister"


def test_a_running_gitlab_vm_without_its_registration_is_left_to_finish() -> None:
    """A GitLab VM whose registration went when its job started is left alone until it powers off."""
    assert _action(_view(status=None, pool=GITLAB_POOL)) is None
    assert _action(_view(status=None, power="stopped", pool=GITLAB_POOL)) == "delete"
    assert _action(_view(status=None, age=3601, pool=GITLAB_POOL)) == "delete"


def test_a_registration_without_a_vm_is_deleted_unless_busy() -> None:
    """A registration whose VM is gone is removed, but never a busy one."""
    assert _action(_view(vm=False, status="offline")) == "delete"
    assert _action(_view(vm=False, status="online", busy=True)) is None


def test_nothing_is_decided_while_a_provision_holds_the_lease() -> None:
    """While a provision holds the job's lease, its half-made runner (no VM yet, a VM being built or
    failed) is not touched."""
    assert _action(_view(vm=False, status="offline", lease=True)) is None
    assert _action(_view(status=None, lease=True, state="Creating")) is None
    assert _action(_view(status=None, lease=True, state="Failed")) is None


def test_a_built_runner_is_judged_though_a_follow_up_still_holds_the_lease() -> None:
    """Once its VM is built, a runner that finished is reaped even if the follow-up that will read the
    VM still waits behind a backlog with the lease."""
    assert _action(_view(status=None, lease=True)) == "delete"
    assert _action(_view(status="online", lease=True)) is None


def test_an_idle_runner_is_retired_after_the_idle_timeout() -> None:
    """An online idle runner is retired (deregistered first) once idle longer than the idle timeout."""
    assert _action(_view(idle_for=599)) is None
    assert _action(_view(idle_for=601)) == "retire"


def test_warm_runners_are_spared_newest_first() -> None:
    """With a warm target of 1, the newest idle runner of the pool is kept and older idle ones are retired."""
    old = replace(_view(idle_for=700, age=900), name="rf-aks-prod-000000000a")
    new = replace(_view(idle_for=700, age=800), name="rf-aks-prod-000000000b")
    verdicts = [Verdict(old.name, "retire", "idle"), Verdict(new.name, "retire", "idle")]
    choice = keep_warm(verdicts, {old.name: old, new.name: new}, {POOL.name: 1})
    assert [v.name for v in choice.verdicts] == [old.name]
    assert choice.warm == {POOL.name: frozenset({new.name})}


def test_the_target_in_force_decides_how_many_are_spared() -> None:
    """The target passed in, not the pool's configured `warm`, is what spares idle runners."""
    views = {v.name: v for v in (_named(i, idle_for=700, age=900 - i) for i in range(3))}
    verdicts = [Verdict(name, "retire", "idle") for name in views]
    assert len(keep_warm(verdicts, views, {POOL.name: 0}).verdicts) == 3
    assert [v.name for v in keep_warm(verdicts, views, {POOL.name: 2}).verdicts] == [_named(0).name]
    assert keep_warm(verdicts, views, {POOL.name: 5}).verdicts == []


def _named(i: int, **kwargs: Any) -> RunnerView:
    return replace(_view(**kwargs), name=f"rf-aks-prod-{i:010x}")


def test_a_job_start_reported_by_webhook_counts_as_busy_whatever_the_flag_says() -> None:
    """A runner shown idle that a webhook said started a job is not retired, even after hours idle."""
    started = replace(_view(idle_for=7200, age=3000), job_started_at=NOW - 30)
    assert started.busy and not started.idle
    assert decide(started, NOW) is None


def test_a_job_start_reported_lately_still_lets_max_lifetime_kill_loudly() -> None:
    """Past its max lifetime a runner that started a job goes as any busy one does: deleted, loudly."""
    verdict = decide(replace(_view(idle_for=10, age=3601), job_started_at=NOW - 30), NOW)
    assert verdict is not None and (verdict.action, verdict.loud) == ("delete", True)


def test_a_gitlab_runner_is_deregistered_only_on_its_own_busy_flag() -> None:
    """A webhook's job start alone does not deregister a GitLab runner: the webhook path does that."""
    started = replace(_view(pool=GITLAB_POOL), job_started_at=NOW - 10)
    assert _action(started) is None
    assert _action(replace(started, registration=RunnerInfo(7, started.name, "online", True))) == "deregister"


def test_an_idle_runner_is_retired_only_once_its_idle_streak_outlasts_the_busy_flag_lag() -> None:
    """With a 60 s idle timeout a runner still waits 120 s: GitHub's busy reads false up to a minute late."""
    short = make_pool("aks-prod", limits={"idle_timeout_s": 60, "max_lifetime_s": 3600})
    assert BUSY_LAG_GUARD_S == 120
    assert _action(_view(idle_for=100, pool=short)) is None
    assert _action(_view(idle_for=121, pool=short)) == "retire"


def test_an_idle_runner_past_its_max_lifetime_is_retired_paced() -> None:
    """An idle runner past its max lifetime is retired (deregistered first), paced, never loud."""
    verdict = decide(_view(idle_for=300, age=3601), NOW)
    assert verdict is not None
    assert (verdict.action, verdict.paced, verdict.loud) == ("retire", True, False)


def test_an_idle_runner_past_its_max_lifetime_waits_out_the_busy_flag_lag() -> None:
    """A runner first seen idle under 120 s ago is not retired for its age: it may have just taken a job."""
    assert _action(_view(idle_for=30, age=3601)) is None
    assert _action(_view(idle_for=None, age=3601)) is None


def test_a_booting_or_unregistered_runner_past_max_lifetime_is_deleted_as_before() -> None:
    """Past the max lifetime, a runner that is neither idle nor busy is deleted, quietly and unpaced."""
    for view in (_view(status="offline", age=3601), _view(status=None, age=3601)):
        verdict = decide(view, NOW)
        assert verdict is not None and (verdict.action, verdict.paced, verdict.loud) == (
            "delete",
            False,
            False,
        )


def test_at_most_one_paced_retirement_per_pool_per_round_oldest_first() -> None:
    """Of idle runners past max lifetime only the oldest goes this round; unpaced verdicts all pass."""
    views = {v.name: v for v in (_named(i, idle_for=300, age=4000 - i) for i in range(3))}
    views[_named(9).name] = _named(9, status="offline", age=400)
    verdicts = [v for v in (decide(view, NOW) for view in views.values()) if v]
    choice = keep_warm(verdicts, views, {POOL.name: 0})
    assert sorted((v.name, v.action) for v in choice.verdicts) == [
        (_named(0).name, "retire"),
        (_named(9).name, "delete"),
    ]


def test_the_paced_retirement_already_a_suspect_goes_first() -> None:
    """The paced runner marked last round is the one kept, so the mark is confirmed, not moved around."""
    views = {v.name: v for v in (_named(i, idle_for=300, age=4000 - i) for i in range(3))}
    verdicts = [v for v in (decide(view, NOW) for view in views.values()) if v]
    choice = keep_warm(verdicts, views, {POOL.name: 0}, suspects={_named(2).name})
    assert [v.name for v in choice.verdicts] == [_named(2).name]


def test_runners_that_were_warm_leave_one_per_round_when_the_target_drops() -> None:
    """Runners warm last round and beyond the target now go one per round; never-warm ones all at once."""
    views = {v.name: v for v in (_named(i, idle_for=900, age=2000 - i) for i in range(5))}
    was_warm = {POOL.name: frozenset(_named(i).name for i in (2, 3, 4))}
    verdicts = [v for v in (decide(view, NOW) for view in views.values()) if v]
    choice = keep_warm(verdicts, views, {POOL.name: 1}, was_warm=was_warm)
    # 4 stays warm (newest); 2 and 3 were warm: only the older, 2, goes; 0 and 1 were never warm.
    assert sorted(v.name for v in choice.verdicts) == sorted(_named(i).name for i in (0, 1, 2))
    assert choice.warm == {POOL.name: frozenset({_named(4).name})}


def test_runners_formerly_warm_are_remembered_until_they_leave() -> None:
    """The set handed to the next round is the warm ones plus the formerly warm still idle, nothing else."""
    views = {v.name: v for v in (_named(i, idle_for=900, age=2000 - i) for i in range(3))}
    was_warm = {POOL.name: frozenset({_named(0).name, _named(1).name, _named(7).name})}
    choice = keep_warm([], views, {POOL.name: 1}, was_warm=was_warm)
    assert choice.remember == {POOL.name: frozenset({_named(2).name, _named(0).name, _named(1).name})}


def test_a_reported_start_does_not_keep_a_finished_github_runners_vm() -> None:
    """A GitHub VM whose JIT registration is gone is deleted even right after its job's start was reported."""
    assert _action(replace(_view(status=None), job_started_at=NOW - 20)) == "delete"


def test_a_reported_start_does_not_keep_a_vm_that_powered_off() -> None:
    """A VM that powered off after its job is deleted even with the job's start reported a moment ago."""
    assert _action(replace(_view(power="stopped"), job_started_at=NOW - 20)) == "delete"
    assert _action(replace(_view(power="stopped", busy=True), job_started_at=NOW - 20)) is None


def test_a_powered_off_vm_past_max_lifetime_is_deleted_unpaced() -> None:
    """A stopped VM past its max lifetime is deleted at once, even if its registration still reads idle."""
    verdict = decide(_view(power="stopped", idle_for=300, age=3601), NOW)
    assert verdict is not None and (verdict.action, verdict.paced) == ("delete", False)
