"""How GitHub Actions schedules jobs onto self-hosted JIT runners, and what it reports while doing so.

Runners are interchangeable capacity: an idle runner takes the oldest queued job whose labels it
has, whichever job its registration was created for. A JIT runner runs exactly one job, then its
registration disappears.

Timing, as warm pools see it: a match (a new job meeting an idle runner, or a connecting runner
meeting a queued job) becomes an assignment only after `assignment_delay_s`; while matched, the job
still reads queued and the runner idle. After the assignment the runner's REST `busy` field keeps
reading false for `busy_lag_s`, while DELETE of the runner (by default) already refuses it.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

from simulator.forge import ForgeService
from simulator.github.auth import random_token
from simulator.github.config import GitHubSimConfig
from simulator.github.directory import Directory, RunnerScope
from simulator.github.errors import ApiError, not_found, validation_failed
from simulator.github.model import Job, Runner, WorkflowRun
from simulator.github.rate_limit import RegistrationLimiter

HOSTED_RUNNER_GROUP_ID = 0
HOSTED_RUNNER_GROUP_NAME = "GitHub Actions"
MAX_RUNNER_NAME_LENGTH = 64
MAX_LABELS = 100
MAX_LABEL_LENGTH = 256


class ActionsService(ForgeService[GitHubSimConfig, Directory, Job, Runner]):
    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._limiter = RegistrationLimiter(
            clock=self._clock,
            limit=self._config.registrations_per_window,
            window_s=self._config.registration_window_s,
            status=self._config.rate_limit_status,
        )
        # Current registrations, and their names per scope (names are case-insensitive).
        self._registered: dict[int, Runner] = {}
        self._names: dict[tuple[RunnerScope, str], Runner] = {}
        self._runs: dict[int, WorkflowRun] = {}
        # Both dicts keep insertion order, which is the FIFO order GitHub assigns in.
        self._queued: dict[int, Job] = {}
        self._idle: dict[int, Runner] = {}
        # Matched job id -> the runner it goes to and the task that assigns it after the delay.
        self._claims: dict[int, tuple[Runner, asyncio.Task[None]]] = {}
        self._label_ids: dict[str, int] = {}
        self._run_numbers: Counter[str] = Counter()
        # Realistic magnitudes: job and run ids overflow 32 bits on github.com.
        self._runner_ids = itertools.count(1)
        self._run_ids = itertools.count(7_100_000_001)
        self._job_ids = itertools.count(20_100_000_001)
        self._hosted_runner_ids = itertools.count(1_000_000_001)

    def _missing(self, what: str) -> ApiError:
        return not_found()

    # -- runner registrations -------------------------------------------------------------

    def register_runner(
        self,
        scope: RunnerScope,
        *,
        name: Any,
        labels: Any,
        runner_group_id: Any,
        work_folder: Any = "_work",
    ) -> Runner:
        if not isinstance(name, str) or not name.strip():
            raise validation_failed("Runner", "name", "name must be a non-empty string")
        if len(name) > MAX_RUNNER_NAME_LENGTH:
            raise validation_failed("Runner", "name", f"name is longer than {MAX_RUNNER_NAME_LENGTH}")
        clean_labels = _validate_labels(labels, "Runner")
        if not isinstance(runner_group_id, int) or isinstance(runner_group_id, bool):
            raise validation_failed("Runner", "runner_group_id", "runner_group_id must be an integer")
        group_name = self._directory.runner_group_name(scope, runner_group_id)
        if not isinstance(work_folder, str) or not work_folder:
            raise validation_failed("Runner", "work_folder", "work_folder must be a non-empty string")
        if (scope, name.casefold()) in self._names:
            raise ApiError(409, f"Already exists - A runner with the name {name} already exists.")
        try:
            self._limiter.admit(f"{scope.kind}:{scope.path.casefold()}")
        except ApiError:
            self._stats["jit_configs_rate_limited"] += 1
            raise
        runner = Runner(
            id=next(self._runner_ids),
            name=name,
            scope=scope,
            labels=clean_labels,
            label_ids=tuple(self._label_id(label) for label in clean_labels),
            runner_group_id=runner_group_id,
            runner_group_name=group_name,
            work_folder=work_folder,
            secret=random_token("sim_runner_", 40),
            created_at=self._clock.now(),
        )
        self._runners[runner.id] = runner
        self._registered[runner.id] = runner
        self._names[(scope, name.casefold())] = runner
        self._stats["jit_configs_issued"] += 1
        return runner

    def _expire_unconnected(self) -> None:
        """GitHub removes an ephemeral runner that has not connected within a day (docs: "Removing
        self-hosted runners"); a JIT config that waited that long is worth nothing."""
        cutoff = self._clock.now() - self._clock.real(self._config.unconnected_runner_ttl_s)
        for runner in list(self._registered.values()):
            if runner.connected_at is None and runner.created_at < cutoff:
                self._remove(runner, "never connected")

    def list_runners(self, scope: RunnerScope, *, name: str | None = None) -> list[Runner]:
        self._expire_unconnected()
        runners = self._registered_in(scope)
        if name is not None:
            runners = [r for r in runners if r.name == name]
        return runners

    def get_runner(self, scope: RunnerScope, runner_id: int) -> Runner:
        self._expire_unconnected()
        runner = self._runners.get(runner_id)
        if runner is None or not runner.registered or runner.scope != scope:
            raise not_found()
        return runner

    def delete_runner(self, scope: RunnerScope, runner_id: int) -> None:
        """GitHub refuses to delete a runner that is running a job (422). It decides on the runner's
        assignment, not on the lagging REST flag, unless `delete_checks` says otherwise."""
        runner = self.get_runner(scope, runner_id)
        if self._config.delete_checks == "assignment":
            refused = runner.busy
        else:
            refused = runner.reported_busy(self._clock.now())
        if refused:
            self._stats["runner_deletes_refused_busy"] += 1
            where = "an-organization" if scope.repo is None else "a-repository"
            raise ApiError(
                422,
                f"Bad request - Runner {runner.name} is currently running a job and cannot be deleted.",
                documentation_url=(
                    f"https://docs.github.com/rest/actions/self-hosted-runners#delete-a-self-hosted-runner-from-{where}"
                ),
            )
        self._remove(runner, "deleted")
        self._stats["runners_deleted"] += 1

    # -- the runner side (what the simulated guest does) ----------------------------------

    def connect(self, runner_id: int, secret: str) -> Runner:
        self._expire_unconnected()
        runner = self._authenticate_runner(runner_id, secret)
        if runner.connected_at is not None:
            raise ApiError(409, "This JIT configuration has already been used.")
        if not runner.registered:
            raise ApiError(401, "The runner registration was deleted.")
        runner.connected_at = self._clock.now()
        self._stats["runners_connected"] += 1
        self._idle[runner.id] = runner
        self._offer_runner(runner)
        return runner

    def host_lost(self, runner_id: int, secret: str) -> Runner:
        """The runner's machine went away while the runner ran: its listener is gone with it.

        Jobs reach a runner only on its listener's open poll, so none is handed to it any more; a
        job matched to it and not yet acquired goes back to the queue; a job it was running fails
        once its lock lapses (see `GitHubSimConfig.job_lock_s`). Its registration stays (offline)
        until someone deletes it, or until its job's end un-configures it.
        """
        runner = self._authenticate_runner(runner_id, secret)
        if runner.connected_at is None or runner.exited:
            return runner
        now = self._clock.now()
        runner.host_lost_at = runner.exited_at = now
        self._idle.pop(runner.id, None)
        self._stats["runners_host_lost"] += 1
        self._give_back_claim(runner)
        if runner.job_id is not None:
            job = self._jobs[runner.job_id]
            if job.task is not None:
                job.task.cancel()  # its steps ran on the machine that is gone
            job.task = self._tasks.spawn(self._abandon_when_lock_lapses(job, now))
        return runner

    async def _abandon_when_lock_lapses(self, job: Job, lost_at: float) -> None:
        started = job.started_at if job.started_at is not None else lost_at
        renewal, scale = self._config.job_lock_renewal_s, self._clock.time_scale
        # Renewals every `renewal` simulated seconds from the start; the last one before the loss
        # holds the job for `job_lock_s` more.
        renewed_sim = (max(0.0, lost_at - started) * scale // renewal) * renewal
        lapses_sim = renewed_sim + self._config.job_lock_s
        await self._clock.sleep(lapses_sim - (self._clock.now() - started) * scale)
        job.task = None
        self._stats["jobs_abandoned"] += 1
        self._finish(job, "failure")

    def guest_view(self, runner_id: int, secret: str) -> Runner:
        runner = self._authenticate_runner(runner_id, secret)
        if runner.connected_at is None and runner.registered:
            raise ApiError(409, "The runner has not connected.")
        return runner

    def _authenticate_runner(self, runner_id: int, secret: str) -> Runner:
        runner = self._runners.get(runner_id)
        if runner is None or not hmac.compare_digest(runner.secret, secret):
            raise ApiError(401, "Bad credentials")
        return runner

    # -- jobs -----------------------------------------------------------------------------

    def queue_job(
        self,
        owner: str,
        repo: str,
        labels: Sequence[str],
        *,
        duration_s: float | None = None,
        name: str = "build",
        workflow_name: str = "CI",
        waiting: bool = False,
        hosted_runner_name: str | None = None,
        event: str = "push",
        head_repository: str | None = None,
        head_branch: str | None = None,
        workflow_path: str = ".github/workflows/ci.yml",
    ) -> Job:
        """Start a workflow run with one job and announce it with a `queued` workflow_job webhook.

        `event` is what started the run; `head_repository` (`owner/name`) makes it a pull request
        from that fork, with `head_branch` its branch.
        """
        repository = self._directory.repo(owner, repo)
        if head_repository is not None and "/" not in head_repository:
            raise validation_failed("Run", "head_repository", "head_repository must be owner/name")
        clean_labels = _validate_labels(list(labels), "Job")
        duration = self._config.job_duration_s if duration_s is None else float(duration_s)
        if duration < 0:
            raise validation_failed("Job", "duration_s", "duration_s must not be negative")
        now = self._clock.now()
        self._run_numbers[repository.full_name] += 1
        run = WorkflowRun(
            id=next(self._run_ids),
            owner=repository.owner,
            repo=repository.name,
            repository_id=repository.id,
            name=workflow_name,
            run_number=self._run_numbers[repository.full_name],
            head_sha=f"{self._rng.getrandbits(160):040x}",
            head_branch=head_branch or repository.default_branch,
            created_at=now,
            event=event,
            head_repository=head_repository,
            path=workflow_path,
        )
        job = Job(
            id=next(self._job_ids),
            run=run,
            name=name,
            labels=clean_labels,
            duration_s=duration,
            status="waiting" if waiting else "queued",
            queued_at=now,
            hosted_runner_name=hosted_runner_name,
        )
        run.job_ids.append(job.id)
        self._runs[run.id] = run
        self._jobs[job.id] = job
        self._stats["jobs_queued"] += 1
        # Environment approval is announced as `queued` too; only the job's status says waiting.
        self._emit("queued", job)
        if not waiting:
            self._make_assignable(job)
        return job

    def approve_job(self, job_id: int) -> Job:
        job = self.job(job_id)
        if job.status != "waiting":
            raise ApiError(409, f"Job {job_id} is not waiting for approval.")
        job.status = "queued"
        job.approved_at = self._clock.now()
        self._make_assignable(job)
        return job

    def cancel_job(self, job_id: int) -> Job:
        job = self.job(job_id)
        if job.status == "completed":
            raise ApiError(409, "Cannot cancel a workflow run that is completed.")
        if job.task is not None:
            job.task.cancel()
            job.task = None
        self._finish(job, "cancelled")
        return job

    def runs_of(self, owner: str, repo: str) -> list[WorkflowRun]:
        full_name = f"{owner}/{repo}".casefold()
        return [r for r in self._runs.values() if f"{r.owner}/{r.repo}".casefold() == full_name]

    def run(self, owner: str, repo: str, run_id: int) -> WorkflowRun:
        run = self._runs.get(run_id)
        if run is None or f"{run.owner}/{run.repo}".casefold() != f"{owner}/{repo}".casefold():
            raise not_found()
        return run

    def jobs_of(self, run: WorkflowRun) -> list[Job]:
        return [self._jobs[job_id] for job_id in run.job_ids]

    # -- scheduling -----------------------------------------------------------------------

    def _make_assignable(self, job: Job) -> None:
        if job.hosted_runner_name is not None:
            job.task = self._tasks.spawn(self._run_hosted(job))
            return
        self._queued[job.id] = job
        job.task = self._tasks.spawn(self._expire_if_unclaimed(job))
        self._offer_job(job)

    def _offer_job(self, job: Job) -> None:
        # No idle runner matches an older queued job (each would have been matched already),
        # so checking the new job against idle runners keeps assignment FIFO.
        for runner in self._idle.values():
            if self._eligible(runner, job):
                self._match(job, runner)
                return

    def _offer_runner(self, runner: Runner) -> None:
        for job in self._queued.values():
            if self._eligible(runner, job):
                self._match(job, runner)
                return

    def _match(self, job: Job, runner: Runner) -> None:
        """Pair a queued job with an idle runner; the assignment follows after the assignment delay
        (GitHub hands a job to a runner within a second or two, not at once)."""
        del self._queued[job.id]
        del self._idle[runner.id]
        delay = self._draw(self._config.assignment_delay_s)
        if delay <= 0:
            self._assign(job, runner)
            return
        runner.claimed_job_id = job.id
        self._claims[job.id] = (runner, self._tasks.spawn(self._assign_after(job, runner, delay)))

    async def _assign_after(self, job: Job, runner: Runner, delay_s: float) -> None:
        await self._clock.sleep(delay_s)
        self._claims.pop(job.id, None)
        runner.claimed_job_id = None
        self._assign(job, runner)

    def _release_claim(self, job_id: int) -> Runner | None:
        """Undo a match that has not become an assignment; the runner it was going to."""
        claim = self._claims.pop(job_id, None)
        if claim is None:
            return None
        runner, task = claim
        task.cancel()
        runner.claimed_job_id = None
        return runner

    def _give_back_claim(self, runner: Runner) -> None:
        """A runner matched to a job it never acquired: the job goes back to the queue, in its place."""
        if runner.claimed_job_id is not None:
            job = self._jobs[runner.claimed_job_id]
            self._release_claim(job.id)
            self._requeue(job)

    def _requeue(self, job: Job) -> None:
        """Put a matched job back in the queue, in its place by queue time, and offer it again."""
        self._queued[job.id] = job
        self._queued = dict(
            sorted(self._queued.items(), key=lambda item: (item[1].approved_at or item[1].queued_at, item[0]))
        )
        self._offer_job(job)

    def _draw(self, bounds: tuple[float, float]) -> float:
        low, high = bounds
        return low if high <= low else self._rng.uniform(low, high)

    def _eligible(self, runner: Runner, job: Job) -> bool:
        if not (runner.scope.covers(job.owner, job.repo) and runner.matches(job.labels)):
            return False
        if runner.scope.repo is not None:
            return True  # a repository's own runner: no group stands between them
        # An organisation runner serves only what its group admits: its repositories, public ones
        # only when allowed, and only its workflows when restricted.
        group = self._directory.runner_group(runner.runner_group_id)
        return group.admits(self._directory.repo(job.owner, job.repo), job.run.workflow_refs())

    def _assign(self, job: Job, runner: Runner) -> None:
        if job.task is not None:
            job.task.cancel()
        runner.job_id = job.id
        runner.last_job_id = job.id
        # The REST API shows the runner busy only after a lag (terraform-aws-github-runner#5228).
        runner.busy_visible_at = self._clock.now() + self._clock.real(self._draw(self._config.busy_lag_s))
        job.runner_connected_at = runner.connected_at
        self._start(job, runner.id, runner.name, runner.runner_group_id, runner.runner_group_name)
        job.task = self._tasks.spawn(self._run_to_completion(job))

    def _start(
        self, job: Job, runner_id: int, runner_name: str | None, group_id: int, group_name: str
    ) -> None:
        job.status = "in_progress"
        job.started_at = self._clock.now()
        job.runner_id, job.runner_name = runner_id, runner_name
        job.runner_group_id, job.runner_group_name = group_id, group_name
        self._stats["jobs_started"] += 1
        self._emit("in_progress", job)

    async def _run_to_completion(self, job: Job) -> None:
        await self._clock.sleep(job.duration_s)
        job.task = None
        self._finish(job, "success")

    async def _expire_if_unclaimed(self, job: Job) -> None:
        await self._clock.sleep(self._config.queued_job_timeout_s)
        if job.status == "queued":
            job.task = None
            self._stats["jobs_expired"] += 1
            self._finish(job, "cancelled")

    async def _run_hosted(self, job: Job) -> None:
        await self._clock.sleep(self._config.hosted_pickup_s)
        job.runner_connected_at = self._clock.now()
        runner_id = next(self._hosted_runner_ids)
        self._start(job, runner_id, job.hosted_runner_name, HOSTED_RUNNER_GROUP_ID, HOSTED_RUNNER_GROUP_NAME)
        await self._run_to_completion(job)

    def _finish(self, job: Job, conclusion: str) -> None:
        self._queued.pop(job.id, None)
        job.status = "completed"
        job.conclusion = conclusion
        job.completed_at = self._clock.now()
        runner = (
            self._runners.get(job.runner_id) if job.hosted_runner_name is None and job.runner_id else None
        )
        if runner is not None:
            runner.job_id = None
            if runner.exited_at is None:
                runner.exited_at = job.completed_at
            # Ephemeral runners deregister themselves once their one job is over.
            if runner.registered:
                self._remove(runner, "ephemeral")
        self._stats[f"jobs_{conclusion}"] += 1
        self._emit("completed", job)
        # A job cancelled or expired between its match and its assignment frees its runner.
        claimed = self._release_claim(job.id)
        if claimed is not None and claimed.online:
            self._idle[claimed.id] = claimed
            self._offer_runner(claimed)

    def _remove(self, runner: Runner, reason: str) -> None:
        now = self._clock.now()
        runner.removed_at = now
        runner.removal_reason = reason
        self._registered.pop(runner.id, None)
        self._names.pop((runner.scope, runner.name.casefold()), None)
        self._idle.pop(runner.id, None)
        # Deleted between match and assignment: the job goes back to the queue.
        self._give_back_claim(runner)
        # A deregistered runner still finishes the job it runs (its worker holds the job's own
        # credentials); it exits when the job ends.
        if runner.connected_at is not None and runner.exited_at is None and not runner.busy:
            runner.exited_at = now

    def _registered_in(self, scope: RunnerScope) -> list[Runner]:
        return [r for r in self._registered.values() if r.scope == scope]

    def _label_id(self, label: str) -> int:
        return self._label_ids.setdefault(label.casefold(), len(self._label_ids) + 1)


def _validate_labels(labels: Any, resource: str) -> tuple[str, ...]:
    if not isinstance(labels, list) or not labels:
        raise validation_failed(resource, "labels", "labels must be a non-empty array")
    if len(labels) > MAX_LABELS:
        raise validation_failed(resource, "labels", f"at most {MAX_LABELS} labels are allowed")
    seen: dict[str, str] = {}
    for label in labels:
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_LENGTH:
            raise validation_failed(resource, "labels", f"invalid label {label!r}")
        seen.setdefault(label.casefold(), label)
    return tuple(seen.values())
