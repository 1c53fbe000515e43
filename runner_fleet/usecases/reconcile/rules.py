"""What should happen to one runner, decided from what was observed. Pure: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runner_fleet.forges import Forge
from runner_fleet.ports.compute import VmInfo
from runner_fleet.ports.forge import RunnerInfo
from runner_fleet.settings.pool import Pool

# delete: VM and registration; retire: deregister first, then delete the VM; deregister: delete
# only the registration of a GitLab runner whose job has started (the VM goes on running it).
Action = Literal["delete", "retire", "deregister"]


@dataclass(frozen=True)
class RunnerView:
    """Everything known about one runner name in one round."""

    name: str
    pool: Pool
    vm: VmInfo | None
    registration: RunnerInfo | None
    created_at: float | None  # the VM's created-at tag
    lease_active: bool  # a provision step holds this runner's job lease right now
    idle_since: float | None  # first round this runner was seen online and idle

    @property
    def forge(self) -> Forge:
        return self.pool.forge


@dataclass(frozen=True)
class Verdict:
    name: str
    action: Action
    reason: str
    loud: bool = False  # a busy runner is being killed (max lifetime): log it as an error


def decide(view: RunnerView, now: float) -> Verdict | None:
    """The action this runner needs, or None.

    A busy runner's VM is never touched before its max lifetime; a busy GitLab runner loses only its
    registration, which its running job does not need.
    """
    if view.lease_active:
        return None  # a provision is creating it right now; its VM or registration may not exist yet
    registration, vm, limits = view.registration, view.vm, view.pool.limits
    busy = registration is not None and registration.busy
    if vm is None:
        if registration is None or busy:
            return None
        return Verdict(view.name, "delete", "runner registration without a VM")
    age = now - view.created_at if view.created_at is not None else None
    if age is not None and age > limits.max_lifetime_s:
        return Verdict(
            view.name, "delete", f"past the pool's max lifetime ({limits.max_lifetime_s}s)", loud=busy
        )
    if busy:
        return _busy(view)
    if vm.provisioning_state == "Failed":
        return Verdict(view.name, "delete", "VM failed to provision")
    if vm.exited:
        return Verdict(view.name, "delete", "runner exited and its VM powered off")
    if registration is None:
        return _registration_gone(view)
    if registration.status != "online":
        if age is not None and age > limits.boot_timeout_s:
            return Verdict(view.name, "delete", f"runner never came online within {limits.boot_timeout_s}s")
        return None
    if view.idle_since is not None and now - view.idle_since > limits.idle_timeout_s:
        return Verdict(view.name, "retire", f"idle for more than {limits.idle_timeout_s}s")
    return None


def _busy(view: RunnerView) -> Verdict | None:
    if view.forge == "gitlab":
        # Its glrt- token would take further jobs: the webhook path missed deleting it.
        return Verdict(view.name, "deregister", "its job started; the runner token must go")
    return None


def _registration_gone(view: RunnerView) -> Verdict | None:
    if view.forge == "gitlab":
        # Deleted when its job started (or by someone while it waited): run-single ends after that
        # job or its wait timeout and the VM powers off, which the `exited` rule reaps.
        return None
    # GitHub removes a JIT runner after its one job.
    return Verdict(view.name, "delete", "runner registration is gone (job done or removed)")


def keep_warm(verdicts: list[Verdict], views: dict[str, RunnerView]) -> list[Verdict]:
    """Spare the newest idle runners of each pool, up to its `warm` count, from retirement."""
    idle_by_pool: dict[str, list[RunnerView]] = {}
    for view in views.values():
        if (
            view.registration is not None
            and view.registration.status == "online"
            and not view.registration.busy
        ):
            idle_by_pool.setdefault(view.pool.name, []).append(view)
    spared: set[str] = set()
    for pool_views in idle_by_pool.values():
        warm = pool_views[0].pool.limits.warm
        newest_first = sorted(pool_views, key=lambda v: v.created_at or 0.0, reverse=True)
        spared.update(v.name for v in newest_first[:warm])
    return [v for v in verdicts if not (v.action == "retire" and v.name in spared)]
