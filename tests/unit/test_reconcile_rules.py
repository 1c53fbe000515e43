"""The reconciler's pure rules: what each observed runner needs, and what it must never get."""

from __future__ import annotations

from dataclasses import replace

from runner_fleet.ports.compute import VmInfo
from runner_fleet.ports.forge import RunnerInfo
from runner_fleet.settings.pool import Pool
from runner_fleet.usecases.reconcile.rules import RunnerView, Verdict, decide, keep_warm
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
    """While a provision step holds the job's lease, its half-made runner is not touched."""
    assert _action(_view(vm=False, status="offline", lease=True)) is None
    assert _action(_view(status=None, lease=True)) is None


def test_an_idle_runner_is_retired_after_the_idle_timeout() -> None:
    """An online idle runner is retired (deregistered first) once idle longer than the idle timeout."""
    assert _action(_view(idle_for=599)) is None
    assert _action(_view(idle_for=601)) == "retire"


def test_warm_runners_are_spared_newest_first() -> None:
    """With warm=1, the newest idle runner of the pool is kept and older idle ones are retired."""
    warm_pool = make_pool("aks-prod", limits={"warm": 1, "idle_timeout_s": 600})
    old = replace(_view(idle_for=700, age=900, pool=warm_pool), name="rf-aks-prod-000000000a")
    new = replace(_view(idle_for=700, age=800, pool=warm_pool), name="rf-aks-prod-000000000b")
    verdicts = [Verdict(old.name, "retire", "idle"), Verdict(new.name, "retire", "idle")]
    kept = keep_warm(verdicts, {old.name: old, new.name: new})
    assert [v.name for v in kept] == [old.name]
