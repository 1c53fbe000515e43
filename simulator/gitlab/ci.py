"""How GitLab CI hands pending jobs to runners, and what it reports while doing so.

Assignment is pull-based, as in GitLab: a job only goes to a runner that asks for one (the
runner's `request_job`), and then to the oldest pending job the runner may take. A runner
started with `run-single --max-builds 1` exits after its one job, but its registration stays
until someone deletes it (unlike a GitHub JIT runner).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import random
import secrets
import string
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.clock import SimClock
from simulator.gitlab.config import GitLabSimConfig, Project, User
from simulator.gitlab.directory import Directory
from simulator.gitlab.errors import ApiError, forbidden, invalid_record, not_found
from simulator.gitlab.model import Job, JobStatus, Pipeline, Runner, RunnerType
from simulator.stats import Stats

log = logging.getLogger(__name__)

JobEventSink = Callable[[Job], None]

RUNNER_TOKEN_PREFIX = "glrt-"  # noqa: S105 - a token prefix, not a credential
RUNNER_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"
ACCESS_LEVELS = ("not_protected", "ref_protected")
MIN_MAXIMUM_TIMEOUT_S = 600
STUCK_REASON = "stuck_or_timeout_failure"


@dataclass(frozen=True)
class RunnerSpec:
    """The attributes of `POST /user/runners`, parsed but not yet checked against the model."""

    runner_type: RunnerType
    group_id: int | None = None
    project_id: int | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    run_untagged: bool = True
    paused: bool = False
    locked: bool = False
    access_level: str = "not_protected"
    maximum_timeout: int | None = None
    maintenance_note: str | None = None


class CiService:
    def __init__(
        self,
        *,
        clock: SimClock,
        config: GitLabSimConfig,
        directory: Directory,
        stats: Stats,
        on_job_event: JobEventSink,
        rng: random.Random,
    ) -> None:
        self._clock = clock
        self._config = config
        self._directory = directory
        self._stats = stats
        self._on_job_event = on_job_event
        self._rng = rng
        self._runners: dict[int, Runner] = {}
        self._by_token: dict[str, Runner] = {}
        self._jobs: dict[int, Job] = {}
        # Insertion order is the FIFO order in which runners are offered pending jobs.
        self._pending: dict[int, Job] = {}
        self._pipeline_iids: Counter[int] = Counter()
        # Realistic magnitudes: gitlab.com ids are far past 32 bits for jobs.
        self._runner_ids = itertools.count(40_000_001)
        self._pipeline_ids = itertools.count(1_500_000_001)
        self._job_ids = itertools.count(8_100_000_001)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- runner registrations -------------------------------------------------------------

    def create_runner(self, spec: RunnerSpec, *, creator: User) -> Runner:
        group_id, project_id = self._runner_scope(spec, creator)
        if not spec.tags and not spec.run_untagged:
            raise invalid_record(
                "tags_list", "can not be empty when runner is not allowed to pick untagged jobs"
            )
        if spec.maximum_timeout is not None and spec.maximum_timeout < MIN_MAXIMUM_TIMEOUT_S:
            raise invalid_record("maximum_timeout", "needs to be at least 10 minutes")
        if spec.access_level not in ACCESS_LEVELS:
            raise ApiError(400, "access_level does not have a valid value", key="error")
        runner = Runner(
            id=next(self._runner_ids),
            token=self._new_token(),
            runner_type=spec.runner_type,
            group_id=group_id,
            project_id=project_id,
            description=spec.description,
            tags=tuple(dict.fromkeys(spec.tags)),
            run_untagged=spec.run_untagged,
            paused=spec.paused,
            locked=spec.locked,
            access_level=spec.access_level,
            maximum_timeout=spec.maximum_timeout,
            maintenance_note=spec.maintenance_note,
            created_by=creator.username,
            created_at=self._clock.now(),
        )
        self._runners[runner.id] = runner
        self._by_token[runner.token] = runner
        self._stats.incr("runners_created")
        return runner

    def _runner_scope(self, spec: RunnerSpec, creator: User) -> tuple[int | None, int | None]:
        if spec.runner_type == "instance_type":
            if not creator.admin:
                raise forbidden()
            return None, None
        if spec.runner_type == "group_type":
            if spec.group_id is None:
                raise ApiError(400, "group_id is missing", key="error")
            return self._directory.group(spec.group_id).id, None
        if spec.project_id is None:
            raise ApiError(400, "project_id is missing", key="error")
        return None, self._directory.project(spec.project_id).id

    def _new_token(self) -> str:
        return RUNNER_TOKEN_PREFIX + "".join(secrets.choice(RUNNER_TOKEN_ALPHABET) for _ in range(20))

    def runner(self, runner_id: int) -> Runner:
        runner = self._runners.get(runner_id)
        if runner is None or not runner.registered:
            raise not_found("Runner")
        return runner

    def delete_runner(self, runner_id: int) -> None:
        runner = self.runner(runner_id)
        now = self._clock.now()
        runner.deleted_at = now
        self._by_token.pop(runner.token, None)
        self._stats.incr("runners_deleted")
        job = self._jobs.get(runner.job_id) if runner.job_id is not None else None
        if job is not None and job.status == "running":
            # The runner's token stops working mid-job: GitLab fails the job on the runner's side.
            self._finish(job, "failed", "runner_system_failure")
        if runner.session in ("waiting", "running"):
            runner.session = "exited"
            runner.exited_at = now

    def find_runner(self, runner_id: int | None) -> Runner | None:
        """Any registration ever made, deleted ones included (a finished job still names its runner)."""
        return None if runner_id is None else self._runners.get(runner_id)

    def registered_runners(self) -> list[Runner]:
        return [r for r in self._runners.values() if r.registered]

    def all_runners(self) -> list[Runner]:
        return list(self._runners.values())

    def runner_by_token(self, token: str) -> Runner | None:
        return self._by_token.get(token)

    def status_of(self, runner: Runner) -> tuple[str, bool]:
        """GitLab's runner status and `online` flag, from when the runner last contacted it."""
        now = self._clock.now()
        # A runner busy with a job keeps sending trace updates, which count as contact.
        contact = now if runner.session == "running" else runner.contacted_at
        stale_after = self._clock.real(self._config.runner_stale_after_s)
        if contact is None:
            return ("stale" if now - runner.created_at > stale_after else "never_contacted"), False
        if now - contact <= self._clock.real(self._config.runner_online_window_s):
            return "online", True
        return ("stale" if now - contact > stale_after else "offline"), False

    def covers(self, runner: Runner, project: Project) -> bool:
        if runner.runner_type == "instance_type":
            return True
        if runner.runner_type == "group_type":
            assert runner.group_id is not None
            return self._directory.project_in_group(project, self._directory.group(runner.group_id))
        return runner.project_id == project.id

    # -- the runner side (what the simulated VM does) -------------------------------------

    def connect(self, token: str, name: str | None) -> Runner:
        runner = self._authenticate_runner(token)
        now = self._clock.now()
        runner.contacted_at = now
        runner.connected_at = now
        if name:
            runner.name = name
        if runner.session != "running":
            # Each run-single process is a fresh session on the same (reusable) registration.
            runner.session = "waiting"
            runner.exited_at = None
        self._stats.incr("runners_connected")
        return runner

    def request_job(self, runner_id: int, token: str) -> Job | None:
        runner = self._authenticate_runner(token, runner_id)
        runner.contacted_at = self._clock.now()
        if runner.session is None:
            raise ApiError(409, "409 Conflict - the runner has not connected")
        if runner.session == "running":
            # The answer to an earlier request may have been lost; hand out the same job.
            return self._jobs[runner.job_id] if runner.job_id is not None else None
        if runner.session == "exited":
            raise ApiError(409, "409 Conflict - run-single has already run its job and exited")
        self._stats.incr("job_requests")
        if runner.paused:
            return None
        for job in self._pending.values():
            if self._eligible(runner, job):
                self._assign(job, runner)
                return job
        self._stats.incr("job_requests_empty")
        return None

    def session(self, runner_id: int, token: str | None) -> Runner:
        runner = self._runners.get(runner_id)
        if runner is None:
            raise not_found("Runner")
        if token is not None and not hmac.compare_digest(runner.token, token):
            raise forbidden()
        return runner

    def _authenticate_runner(self, token: str, runner_id: int | None = None) -> Runner:
        runner = self._by_token.get(token)
        if runner is None or (runner_id is not None and runner.id != runner_id):
            raise forbidden()
        return runner

    # -- jobs -----------------------------------------------------------------------------

    def create_job(
        self,
        project_ref: int | str,
        tags: Sequence[str],
        *,
        duration_s: float | None = None,
        name: str = "deploy",
        stage: str = "deploy",
        fail: bool = False,
        environment: str | None = None,
        source_pipeline: bool | Mapping[str, Any] = False,
        ref: str | None = None,
    ) -> Job:
        project = self._directory.project(project_ref)
        if not all(isinstance(tag, str) and tag.strip() for tag in tags):
            raise ApiError(400, "tags must be non-empty strings", key="error")
        duration = self._config.job_duration_s if duration_s is None else float(duration_s)
        if duration < 0:
            raise ApiError(400, "duration_s must not be negative", key="error")
        now = self._clock.now()
        pipeline = self._new_pipeline(project, now, ref or project.default_branch, source_pipeline)
        job = Job(
            id=next(self._job_ids),
            project_id=project.id,
            pipeline=pipeline,
            name=name,
            stage=stage,
            tags=tuple(dict.fromkeys(tag.strip() for tag in tags)),
            duration_s=duration,
            fail=fail,
            environment=environment,
            status="created",
            created_at=now,
        )
        self._jobs[job.id] = job
        self._stats.incr("jobs_created")
        self._emit(job)
        job.status = "pending"
        job.queued_at = self._clock.now()
        self._pending[job.id] = job
        self._emit(job)
        job.task = self._spawn(self._drop_if_stuck(job))
        return job

    def _new_pipeline(
        self, project: Project, now: float, ref: str, source: bool | Mapping[str, Any]
    ) -> Pipeline:
        pipeline_id = next(self._pipeline_ids)
        self._pipeline_iids[project.id] += 1
        upstream: dict[str, Any] | None = None
        kind = "push"
        if source:
            upstream = (
                self._given_upstream(source) if isinstance(source, Mapping) else self._upstream_of(project)
            )
            kind = "parent_pipeline" if upstream.get("project_id") == project.id else "pipeline"
        return Pipeline(
            id=pipeline_id,
            iid=self._pipeline_iids[project.id],
            project_id=project.id,
            sha=f"{self._rng.getrandbits(160):040x}",
            before_sha=f"{self._rng.getrandbits(160):040x}",
            ref=ref,
            created_at=now,
            source=kind,
            source_pipeline=upstream,
        )

    def _given_upstream(self, source: Mapping[str, Any]) -> dict[str, Any]:
        upstream = dict(source)
        if "project_id" not in upstream:
            raise ApiError(400, "source_pipeline needs a project_id", key="error")
        upstream["project_id"] = self._directory.project(upstream["project_id"]).id
        upstream.setdefault("pipeline_id", next(self._pipeline_ids))
        upstream.setdefault("job_id", next(self._job_ids))
        return upstream

    def _upstream_of(self, project: Project) -> dict[str, Any]:
        others = [p for p in self._directory.projects if p.id != project.id]
        upstream = others[0] if others else project
        return {
            "project_id": upstream.id,
            "pipeline_id": next(self._pipeline_ids),
            "job_id": next(self._job_ids),
        }

    def cancel_job(self, job_id: int) -> Job:
        job = self.job(job_id)
        if job.finished:
            raise ApiError(409, f"409 Conflict - job {job_id} is {job.status} and cannot be canceled")
        self._finish(job, "canceled", None)
        return job

    def job(self, job_id: int) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found("Job")
        return job

    def jobs_of(self, project_id: int) -> list[Job]:
        return [j for j in self._jobs.values() if j.project_id == project_id]

    def all_jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # -- scheduling -----------------------------------------------------------------------

    def _eligible(self, runner: Runner, job: Job) -> bool:
        return runner.takes_tags(job.tags) and self.covers(runner, self._directory.project(job.project_id))

    def _assign(self, job: Job, runner: Runner) -> None:
        del self._pending[job.id]
        self._cancel_task(job)
        job.status = "running"
        job.started_at = self._clock.now()
        job.runner_id = runner.id
        job.runner_connected_at = runner.connected_at
        runner.session = "running"
        runner.job_id = job.id
        runner.last_job_id = job.id
        self._stats.incr("jobs_started")
        self._emit(job)
        job.task = self._spawn(self._run_to_completion(job))

    async def _run_to_completion(self, job: Job) -> None:
        await self._clock.sleep(job.duration_s)
        job.task = None
        if job.fail:
            self._finish(job, "failed", "script_failure")
        else:
            self._finish(job, "success", None)

    async def _drop_if_stuck(self, job: Job) -> None:
        await self._clock.sleep(self._config.pending_timeout_s)
        if job.status == "pending":
            job.task = None
            self._stats.incr("jobs_stuck")
            self._finish(job, "failed", STUCK_REASON)

    def _finish(self, job: Job, status: JobStatus, reason: str | None) -> None:
        self._pending.pop(job.id, None)
        self._cancel_task(job)
        now = self._clock.now()
        job.status = status
        job.failure_reason = reason
        job.finished_at = now
        runner = self._runners.get(job.runner_id) if job.runner_id is not None else None
        if runner is not None and runner.job_id == job.id:
            runner.job_id = None
            runner.contacted_at = now
            if runner.session == "running":
                # run-single --max-builds 1: the runner process exits after its one job.
                runner.session = "exited"
                runner.exited_at = now
        self._stats.incr(f"jobs_{status}")
        self._emit(job)

    def _cancel_task(self, job: Job) -> None:
        task, job.task = job.task, None
        if task is not None and task is not _current_task():
            task.cancel()

    def _emit(self, job: Job) -> None:
        try:
            self._on_job_event(job)
        except Exception:
            # A broken sink must not wedge the scheduler's state machine.
            log.exception("job hook for job %s (%s) could not be published", job.id, job.status)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("CI task failed", exc_info=task.exception())


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
