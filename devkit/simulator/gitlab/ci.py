"""How GitLab CI hands pending jobs to runners, and what it reports while doing so.

Assignment is pull-based, as in GitLab: a job only goes to a runner that asks for one (the
runner's `request_job`), and then to the oldest pending job the runner may take. A runner
started with `run-single --max-builds 1` exits after its one job, but its registration (and its
token, which takes any further job it asks for) stays until someone deletes it, unlike a GitHub JIT
runner. Whether a runner process runs at all is the VM's business (devkit/simulator/arm/guest/gitlab.py).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import secrets
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.forge import ForgeService
from simulator.gitlab.config import MAINTAINER, OWNER, GitLabSimConfig, Project, User
from simulator.gitlab.directory import Directory
from simulator.gitlab.errors import ApiError, forbidden, insufficient_permissions, invalid_record, not_found
from simulator.gitlab.model import Job, JobStatus, Pipeline, Runner, RunnerType

RUNNER_TOKEN_PREFIX = "glrt-"  # noqa: S105 - a token prefix, not a credential
JOB_TOKEN_PREFIX = "glcbt-"  # noqa: S105 - a token prefix, not a credential
RUNNER_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"
ACCESS_LEVELS = ("not_protected", "ref_protected")
MIN_MAXIMUM_TIMEOUT_S = 600
MAX_TAGS = 50
MAX_TEXT = 1024
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


class JobNotRunning(ApiError):
    """GitLab's answer to a job update once the job has ended: 403 with the job's status."""

    def __init__(self, status: str) -> None:
        super().__init__(403, "403 Forbidden - Job is not running", headers={"Job-Status": status})
        self.job_status = status


class CiService(ForgeService[GitLabSimConfig, Directory, Job, Runner]):
    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._by_token: dict[str, Runner] = {}
        # Insertion order is the FIFO order in which runners are offered pending jobs.
        self._pending: dict[int, Job] = {}
        self._pipeline_iids: Counter[int] = Counter()
        # Realistic magnitudes: gitlab.com ids are far past 32 bits for jobs.
        self._runner_ids = itertools.count(40_000_001)
        self._pipeline_ids = itertools.count(1_500_000_001)
        self._job_ids = itertools.count(8_100_000_001)

    def _missing(self, what: str) -> ApiError:
        return not_found(what)

    # -- runner registrations -------------------------------------------------------------

    def create_runner(self, spec: RunnerSpec, *, creator: User) -> Runner:
        group_id, project_id = self._runner_scope(spec, creator)
        if not spec.tags and not spec.run_untagged:
            raise invalid_record(
                "tags_list", "can not be empty when runner is not allowed to pick untagged jobs"
            )
        if spec.maximum_timeout is not None and spec.maximum_timeout < MIN_MAXIMUM_TIMEOUT_S:
            raise invalid_record("maximum_timeout", "needs to be at least 10 minutes")
        # Ci::Runner validations: at most 50 tags; description and maintenance note 1,024 characters.
        if len(set(spec.tags)) > MAX_TAGS:
            raise invalid_record(
                "tags_list", f"Too many tags specified. Please limit the number of tags to {MAX_TAGS}"
            )
        for field_name, text in (
            ("description", spec.description),
            ("maintenance_note", spec.maintenance_note),
        ):
            if text is not None and len(text) > MAX_TEXT:
                raise invalid_record(field_name, f"is too long (maximum is {MAX_TEXT} characters)")
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
        self._stats["runners_created"] += 1
        return runner

    def _runner_scope(self, spec: RunnerSpec, creator: User) -> tuple[int | None, int | None]:
        """Where the runner goes, if the creator may put it there.

        The `create_runner` ability: instance runners need an administrator, group runners the
        Owner role of the group (inherited from a parent group counts), project runners at least
        Maintainer of the project (Ci::Runners::RunnerCreationStrategies, GitLab's runner API docs).
        """
        if spec.runner_type == "instance_type":
            if not creator.admin:
                raise forbidden()
            return None, None
        if spec.runner_type == "group_type":
            if spec.group_id is None:
                raise ApiError(400, "group_id is missing", key="error")
            group = self._directory.group(spec.group_id)
            if not self._directory.may(creator, group, OWNER):
                raise insufficient_permissions()
            return group.id, None
        if spec.project_id is None:
            raise ApiError(400, "project_id is missing", key="error")
        project = self._directory.project(spec.project_id)
        if not self._directory.may(creator, project, MAINTAINER):
            raise insufficient_permissions()
        return None, project.id

    def _new_token(self) -> str:
        return RUNNER_TOKEN_PREFIX + "".join(secrets.choice(RUNNER_TOKEN_ALPHABET) for _ in range(20))

    def runner(self, runner_id: int) -> Runner:
        runner = self._runners.get(runner_id)
        if runner is None or not runner.registered:
            raise self._missing("Runner")
        return runner

    def delete_runner(self, runner_id: int) -> None:
        """Delete a registration; its token stops working at once, a job it runs goes on.

        GitLab destroys the runner row and nullifies the jobs' `runner_id` asynchronously
        (config/gitlab_loose_foreign_keys.yml: p_ci_builds.runner_id, async_nullify); the running
        job's own updates authenticate with the job token only (lib/api/ci/helpers/runner.rb,
        `authenticate_job!`, `job.runner&.heartbeat`), so the job runs to its end.
        """
        runner = self.runner(runner_id)
        runner.deleted_at = self._clock.now()
        self._by_token.pop(runner.token, None)
        self._stats["runners_deleted"] += 1

    def registered_runner(self, runner_id: int | None) -> Runner | None:
        """The runner as GitLab's API and hooks show it: None once deleted (`build.runner` is nil)."""
        runner = None if runner_id is None else self._runners.get(runner_id)
        return runner if runner is not None and runner.registered else None

    def registered_runners(self) -> list[Runner]:
        return [r for r in self._runners.values() if r.registered]

    def runner_by_token(self, token: str) -> Runner | None:
        return self._by_token.get(token)

    def status_of(self, runner: Runner) -> tuple[str, bool]:
        """GitLab's runner status and `online` flag, from when the runner last contacted it."""
        now = self._clock.now()
        contact = runner.contacted_at
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

    # -- the runner API: what gitlab-runner calls with its glrt- token --------------------

    def verify(self, token: str, name: str | None) -> Runner:
        """`POST /runners/verify`: the token is valid (403 otherwise)."""
        runner = self._authenticate_runner(token)
        self._contact(runner, name)
        return runner

    def request_job(self, token: str, name: str | None) -> Job | None:
        """`POST /jobs/request`: the oldest pending job this runner may take, or None (204).

        A runner token keeps taking jobs until its runner is deleted: GitLab does not know that
        `run-single --max-builds 1` wanted only one, so whoever holds the token gets the next
        matching job, with its CI variables, each time it asks (lib/api/ci/runner.rb).
        """
        runner = self._authenticate_runner(token)
        self._contact(runner, name)
        self._stats["job_requests"] += 1
        if runner.paused:
            return None  # GitLab answers 204 to a paused runner
        for job in self._pending.values():
            if self._eligible(runner, job):
                self._assign(job, runner)
                return job
        self._stats["job_requests_empty"] += 1
        return None

    def update_job(self, job_id: int, token: str, state: str | None, failure_reason: str | None) -> Job:
        """`PUT /jobs/:id` with the job token: a heartbeat while running, or the job's outcome.

        Raises `JobNotRunning` (403 with a `Job-Status` header) once the job has ended, which is
        how a runner learns that its job was cancelled.
        """
        job = self._jobs.get(job_id)
        if job is None or job.token is None or not hmac.compare_digest(job.token, token):
            raise forbidden()
        if job.status != "running":
            raise JobNotRunning(job.status)
        runner = self.registered_runner(job.runner_id)
        if runner is not None:
            runner.contacted_at = self._clock.now()
        if state == "success":
            self._finish(job, "success", None)
        elif state == "failed":
            self._finish(job, "failed", failure_reason or "script_failure")
        elif state not in (None, "running"):
            raise ApiError(400, "state does not have a valid value", key="error")
        return job

    def host_lost(self, runner_token: str, job_id: int | None, job_token: str | None) -> list[Job]:
        """The runner's VM went away: what it ran gets no more updates, and GitLab drops such a job
        once it has not been updated for `running_outdated_s`.

        Named by the job's token where the runner knew its job (its registration may be deleted by
        then), else by the runner's token: every job running on it (one assigned as the VM went).
        """
        if job_id is not None and job_token is not None:
            job = self._jobs.get(job_id)
            if job is None or job.token is None or not hmac.compare_digest(job.token, job_token):
                raise forbidden()
            jobs = [job]
        else:
            runner = self._by_token.get(runner_token)
            if runner is None:
                raise forbidden()
            jobs = [j for j in self._jobs.values() if j.runner_id == runner.id]
        lost = [job for job in jobs if job.status == "running"]
        for job in lost:
            self._cancel_task(job)  # its script ran on the machine that is gone
            self._stats["jobs_host_lost"] += 1
            job.task = self._tasks.spawn(self._drop_when_outdated(job))
        return lost

    async def _drop_when_outdated(self, job: Job) -> None:
        await self._clock.sleep(self._config.running_outdated_s)
        job.task = None
        if job.status == "running":
            self._stats["jobs_outdated"] += 1
            self._finish(job, "failed", STUCK_REASON)

    def _contact(self, runner: Runner, name: str | None) -> None:
        now = self._clock.now()
        runner.contacted_at = now
        if runner.connected_at is None:
            runner.connected_at = now
            self._stats["runners_connected"] += 1
        if name:
            runner.name = name

    def _authenticate_runner(self, token: str) -> Runner:
        runner = self._by_token.get(token)
        if runner is None:
            raise forbidden()
        return runner

    # -- jobs -----------------------------------------------------------------------------

    def create_job(
        self,
        project_id: int | str,
        tags: Sequence[str],
        *,
        duration_s: float | None = None,
        name: str = "deploy",
        stage: str = "deploy",
        fail: bool = False,
        environment: str | None = None,
        source_pipeline: bool | Mapping[str, Any] = False,
        ref: str | None = None,
        script: Sequence[str] = (),
    ) -> Job:
        """Start a pipeline with one job (of the project named by id or path) and announce it with
        `created` then `pending` Job Hooks."""
        project = self._directory.project(project_id)
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
            script=tuple(script) or (f"echo {name}",),
        )
        self._jobs[job.id] = job
        self._stats["jobs_created"] += 1
        self._emit(job)
        job.status = "pending"
        job.queued_at = self._clock.now()
        self._pending[job.id] = job
        self._emit(job)
        job.task = self._tasks.spawn(self._drop_if_stuck(job))
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
            protected=self._directory.ref_protected(project, ref),
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

    def jobs_of(self, project_id: int) -> list[Job]:
        return [j for j in self._jobs.values() if j.project_id == project_id]

    # -- scheduling -----------------------------------------------------------------------

    def _eligible(self, runner: Runner, job: Job) -> bool:
        """`Ci::Runner#can_pick?`: protected refs for ref_protected runners, scope, then tags."""
        if runner.access_level == "ref_protected" and not job.pipeline.protected:
            return False
        return runner.takes_tags(job.tags) and self.covers(runner, self._directory.project(job.project_id))

    def _assign(self, job: Job, runner: Runner) -> None:
        del self._pending[job.id]
        self._cancel_task(job)
        job.status = "running"
        job.started_at = self._clock.now()
        job.runner_id = runner.id
        job.runner_connected_at = runner.connected_at
        job.token = JOB_TOKEN_PREFIX + "".join(secrets.choice(RUNNER_TOKEN_ALPHABET) for _ in range(20))
        runner.last_job_id = job.id
        runner.jobs_taken += 1
        self._stats["jobs_started"] += 1
        self._emit(job)
        job.task = self._tasks.spawn(self._run_to_completion(job))

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
            self._stats["jobs_stuck"] += 1
            self._finish(job, "failed", STUCK_REASON)

    def _finish(self, job: Job, status: JobStatus, reason: str | None) -> None:
        self._pending.pop(job.id, None)
        self._cancel_task(job)
        now = self._clock.now()
        job.status = status
        job.failure_reason = reason
        job.finished_at = now
        self._stats[f"jobs_{status}"] += 1
        self._emit(job)

    def _cancel_task(self, job: Job) -> None:
        task, job.task = job.task, None
        if task is not None and task is not _current_task():
            task.cancel()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
