"""What should happen to one runner, decided from what was observed. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from runner_fleet.forges import Forge
from runner_fleet.ports.compute import VmInfo
from runner_fleet.ports.forge import RunnerInfo
from runner_fleet.settings.pool import Pool

# delete: VM and registration; retire: deregister first, then delete the VM; deregister: delete
# only the registration of a GitLab runner whose job has started (the VM goes on running it).
Action = Literal["delete", "retire", "deregister"]

# GitHub's REST `busy` reads false for 25-60 s, sometimes more, after a job was assigned
# (terraform-aws-github-runner#5085, #5228): twice the usual worst case.
BUSY_LAG_GUARD_S = 120.0
# A job start a webhook reported counts for this long, by when the forge's flag has caught up.
START_GUARD_S = BUSY_LAG_GUARD_S


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
    # When a webhook said it started a job, if within `START_GUARD_S`: the forge's `busy` may lag.
    job_started_at: float | None = None

    @property
    def forge(self) -> Forge:
        return self.pool.forge

    @property
    def busy(self) -> bool:
        """Running a job, as its registration says or as a webhook said lately.

        The webhook's word stands in for the registration's `busy` flag, which lags; without a
        registration there is no flag to distrust (GitHub removes a JIT runner once its job ends).
        """
        registration = self.registration
        return registration is not None and (registration.busy or self.job_started_at is not None)

    @property
    def running_job(self) -> bool:
        """Busy, or a GitLab VM whose registration went when its job started (it runs that job)."""
        if self.busy:
            return True
        vm = self.vm
        return (
            self.forge == "gitlab"
            and self.registration is None
            and not self.lease_active
            and vm is not None
            and not vm.going_away
        )

    @property
    def idle(self) -> bool:
        """Online and running nothing, as far as anyone told us."""
        registration = self.registration
        return registration is not None and registration.status == "online" and not self.busy


@dataclass(frozen=True)
class Verdict:
    name: str
    action: Action
    reason: str
    loud: bool = False  # a busy runner is being killed (max lifetime): log it as an error
    # One of a pool's ready runners leaving while it may still be wanted (past its max lifetime, or
    # no longer within a warm target that dropped): at most one per pool per round.
    paced: bool = False


def decide(view: RunnerView, now: float) -> Verdict | None:
    """The action this runner needs, or None.

    A busy runner's VM is never touched before its max lifetime; a busy GitLab runner loses only its
    registration, which its running job does not need. A registered runner a webhook said started a
    job within `START_GUARD_S` counts as busy whatever its flag says (unless its VM stopped), and an
    idle runner is retired only once its idle streak is `BUSY_LAG_GUARD_S` old: the flag lags.
    """
    if view.lease_active and (view.vm is None or view.vm.provisioning_state != "Succeeded"):
        # A provision is making it right now: its VM or registration may not exist yet, or its VM is
        # being built or failed and is the provision's to handle. Once the VM is built the lease only
        # waits for a follow-up to read it, which may sit behind a backlog: the runner is judged then.
        return None
    registration, vm, limits = view.registration, view.vm, view.pool.limits
    busy = view.busy
    if vm is None:
        if registration is None or busy:
            return None
        return Verdict(view.name, "delete", "runner registration without a VM")
    age = now - view.created_at if view.created_at is not None else None
    idle_for = now - view.idle_since if view.idle and view.idle_since is not None else None
    if age is not None and age > limits.max_lifetime_s:
        return _past_max_lifetime(view, idle_for)
    flagged_busy = registration is not None and registration.busy
    # A start only a webhook reported does not keep a VM that has stopped: nothing runs on it.
    if flagged_busy or (busy and not (vm.provisioning_state == "Failed" or vm.exited)):
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
    if idle_for is not None and idle_for > max(limits.idle_timeout_s, BUSY_LAG_GUARD_S):
        return Verdict(view.name, "retire", f"idle for more than {limits.idle_timeout_s}s")
    return None


def _past_max_lifetime(view: RunnerView, idle_for: float | None) -> Verdict | None:
    reason = f"past the pool's max lifetime ({view.pool.limits.max_lifetime_s}s)"
    if not view.idle or (view.vm is not None and view.vm.going_away):
        return Verdict(view.name, "delete", reason, loud=view.busy)
    if idle_for is None or idle_for < BUSY_LAG_GUARD_S:
        return None
    # Ready for jobs: deregistered first, and one at a time, so the pool never loses all at once.
    return Verdict(view.name, "retire", reason, paced=True)


def _busy(view: RunnerView) -> Verdict | None:
    if view.forge == "gitlab" and view.registration is not None and view.registration.busy:
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


@dataclass(frozen=True)
class WarmChoice:
    verdicts: list[Verdict]
    # Pool name -> the idle runners kept as its warm ones this round (newest first, up to the target).
    warm: dict[str, frozenset[str]]
    # Pool name -> what the next round should pass as `was_warm`: the warm ones, and the formerly
    # warm ones still idle (still to be paced out).
    remember: dict[str, frozenset[str]]


def keep_warm(
    verdicts: list[Verdict],
    views: Mapping[str, RunnerView],
    targets: Mapping[str, int],
    *,
    was_warm: Mapping[str, frozenset[str]] | None = None,
    suspects: Collection[str] = (),
) -> WarmChoice:
    """Spare the newest idle runners of each pool, up to its warm target, from the idle timeout, and
    let at most one paced retirement per pool through (the one already a suspect, else the oldest).

    An idle runner that was warm last round and is not now (the target dropped, say a schedule's
    window closed) is paced too. Draining one per round costs a few VM-minutes at most (a drop from
    ten to none keeps the last one nine rounds longer), while retiring them all at once would throw
    away ready runners on an adaptive target's momentary dip, only to make new ones a round later,
    and would burst the deletes against Resource Manager's limits. Idle runners that were never
    warm (made for a job another runner took) still all go at their idle timeout, as before.
    """
    idle_by_pool: dict[str, list[RunnerView]] = {}
    for view in views.values():
        if view.idle:
            idle_by_pool.setdefault(view.pool.name, []).append(view)
    warm: dict[str, frozenset[str]] = {}
    for pool, pool_views in idle_by_pool.items():
        newest_first = sorted(pool_views, key=lambda v: (v.created_at or 0.0, v.name), reverse=True)
        warm[pool] = frozenset(v.name for v in newest_first[: max(0, targets.get(pool, 0))])
    kept: list[Verdict] = []
    paced: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        pool = views[verdict.name].pool.name
        judged = verdict
        if verdict.action == "retire" and not verdict.paced:
            if verdict.name in warm.get(pool, frozenset()):
                continue
            if was_warm is not None and verdict.name in was_warm.get(pool, frozenset()):
                judged = replace(
                    verdict,
                    paced=True,
                    reason=f"{verdict.reason}; beyond the warm target ({targets.get(pool, 0)})",
                )
        if judged.paced:
            paced.setdefault(pool, []).append(judged)
        else:
            kept.append(judged)
    for candidates in paced.values():
        kept.append(
            min(
                candidates,
                key=lambda v: (v.name not in suspects, views[v.name].created_at or 0.0, v.name),
            )
        )
    remember: dict[str, frozenset[str]] = {}
    for pool, pool_views in idle_by_pool.items():
        formerly = was_warm.get(pool, frozenset()) if was_warm is not None else frozenset()
        remember[pool] = warm.get(pool, frozenset()) | (formerly & {v.name for v in pool_views})
    return WarmChoice(kept, warm, remember)
