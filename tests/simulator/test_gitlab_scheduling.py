"""How the simulated GitLab hands pending jobs to runners that ask for them, driven by a runner
client speaking the protocol a runner VM uses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import aiohttp
import gitlab
import pytest
from gitlab.v4.objects import CurrentUserRunnerManager

from simulator.gitlab import GitLabSimConfig, GitLabSimulator
from simulator.gitlab.config import CiVariable
from simulator.gitlab.testing import RunnerClient, SimulatorFactory, TakenJob
from simulator.testing import wait_until

pytest_plugins = ["gitlab_fixtures"]


def _user_runners(gl: gitlab.Gitlab) -> CurrentUserRunnerManager:
    assert gl.user is not None, "gl.auth() sets the current user"
    return gl.user.runners


NewRunner = Callable[..., tuple[int, RunnerClient]]


def _register(
    gl: gitlab.Gitlab, tags: list[str], *, run_untagged: bool = False, **scope: object
) -> tuple[int, str]:
    attrs = {"runner_type": "group_type", "group_id": 100, **scope}
    created = _user_runners(gl).create({**attrs, "tag_list": tags, "run_untagged": run_untagged})
    return int(created.id), str(created.token)


@pytest.fixture
def new_runner(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, http_session: aiohttp.ClientSession
) -> NewRunner:
    """Register a runner (a group runner of group 100 unless said) with `tags`: its id, and the
    client its VM would run."""

    def register(tags: list[str], **attributes: Any) -> tuple[int, RunnerClient]:
        runner_id, token = _register(gl, tags, **attributes)
        return runner_id, RunnerClient(http_session, gitlab_sim.base_url, token)

    return register


async def test_runner_takes_only_a_job_whose_tags_it_has(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, new_runner: NewRunner
) -> None:
    """A runner takes the job whose tags are all its own, not an untagged job or one with an extra tag."""
    untagged = gitlab_sim.create_job(1001, [], duration_s=3600)
    extra = gitlab_sim.create_job(1001, ["deploy", "gpu"], duration_s=3600)
    wanted = gitlab_sim.create_job(1001, ["deploy"])
    runner_id, runner = new_runner(["deploy", "linux"])

    assert await runner.verify("vm-1") == 200
    job = await runner.wait_for_job()

    assert runner.runner_id == runner_id
    assert job.id == wanted["id"]
    assert await runner.wait_until_job_ends(job) == "success"
    done = gitlab_sim.job(wanted["id"])
    assert (done["status"], done["runner_id"]) == ("success", runner_id)
    assert gitlab_sim.job(untagged["id"])["status"] == "pending"
    assert gitlab_sim.job(extra["id"])["status"] == "pending"
    registration = gl.runners.get(runner_id)
    assert (registration.status, registration.online, registration.name) == ("online", True, "vm-1")


async def test_a_job_comes_with_its_job_token_variables_and_script(
    make_gitlab_sim: SimulatorFactory,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    http_session: aiohttp.ClientSession,
) -> None:
    """Rule gitlab.jobs-request.payload: 201 with job token, variables (protected ones on protected refs)."""
    variables = (CiVariable("DEPLOY_KEY", "s3cret", protected=True), CiVariable("REGION", "westeurope"))
    project = dataclasses.replace(GitLabSimConfig().projects[0], variables=variables)
    sim = make_gitlab_sim(projects=(project, *GitLabSimConfig().projects[1:]))
    client = gitlab_client_for(sim)
    client.auth()
    job = sim.create_job(1001, ["deploy"], script=["kubectl apply -f k8s/"], duration_s=3600)
    _, token = _register(client, ["deploy"])

    taken = await RunnerClient(http_session, sim.base_url, token).wait_for_job()

    assert taken.id == job["id"]
    assert taken.token.startswith("glcbt-")
    assert taken.variables["CI_JOB_TOKEN"] == taken.token
    assert taken.variables["DEPLOY_KEY"] == "s3cret"
    assert taken.variables["CI_PROJECT_PATH"] == "acme/web"
    assert taken.script == ["kubectl apply -f k8s/"]
    feature = sim.create_job(1001, ["deploy"], ref="feature/x", duration_s=3600)
    on_feature = await RunnerClient(http_session, sim.base_url, token).wait_for_job()
    assert on_feature.id == feature["id"]
    assert "DEPLOY_KEY" not in on_feature.variables and on_feature.variables["REGION"] == "westeurope"


async def test_untagged_jobs_go_to_runners_that_run_untagged(
    gitlab_sim: GitLabSimulator, new_runner: NewRunner
) -> None:
    """A runner with run_untagged true takes an untagged job."""
    job = gitlab_sim.create_job(1002, [])
    _, runner = new_runner(["deploy"], run_untagged=True)
    assert (await runner.wait_for_job()).id == job["id"]


async def test_oldest_matching_job_goes_first(gitlab_sim: GitLabSimulator, new_runner: NewRunner) -> None:
    """Of two jobs the runner may take, it is given the one pending longer."""
    older = gitlab_sim.create_job(1001, ["deploy"])
    gitlab_sim.create_job(1002, ["deploy"])
    _, runner = new_runner(["deploy"])
    assert (await runner.wait_for_job()).id == older["id"]


async def test_runners_only_take_jobs_of_projects_they_serve(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, http_session: aiohttp.ClientSession
) -> None:
    """A project runner and a subgroup runner do not take a job of a project outside their scope."""
    job = gitlab_sim.create_job(1001, ["deploy"])
    _, project_token = _register(gl, ["deploy"], runner_type="project_type", project_id=1002)
    _, subgroup_token = _register(gl, ["deploy"], group_id=101)
    for token in (project_token, subgroup_token):
        assert await RunnerClient(http_session, gitlab_sim.base_url, token).request_job() == (204, None)
    _, group_token = _register(gl, ["deploy"], group_id=100)
    status, taken = await RunnerClient(http_session, gitlab_sim.base_url, group_token).request_job()
    assert (status, taken and taken.id) == (201, job["id"])


async def test_ref_protected_runners_take_only_jobs_on_protected_refs(
    gitlab_sim: GitLabSimulator, new_runner: NewRunner
) -> None:
    """Rule gitlab.access-level.ref-protected: a feature-branch job waits; the default branch's is taken."""
    feature = gitlab_sim.create_job(1001, ["deploy"], ref="feature/x", duration_s=3600)
    main = gitlab_sim.create_job(1001, ["deploy"], duration_s=3600)
    _, runner = new_runner(["deploy"], access_level="ref_protected")

    first = await runner.wait_for_job()

    assert first.id == main["id"]
    assert await runner.request_job() == (204, None)
    assert (gitlab_sim.job(feature["id"])["protected"], gitlab_sim.job(main["id"])["protected"]) == (
        False,
        True,
    )


async def test_waiting_runner_gets_a_job_created_later(
    gitlab_sim: GitLabSimulator, new_runner: NewRunner
) -> None:
    """With nothing pending jobs/request answers 204 and the runner waits; a new job is its next answer."""
    runner_id, runner = new_runner(["deploy"])
    assert await runner.verify() == 200
    assert await runner.request_job() == (204, None)

    job = gitlab_sim.create_job(1003, ["deploy"], duration_s=3600)

    status, taken = await runner.request_job()
    assert (status, taken and taken.id) == (201, job["id"])
    snapshot = gitlab_sim.job(job["id"])
    assert snapshot["status"] == "running"
    assert snapshot["runner_connected_at"] == gitlab_sim.runner(runner_id)["connected_at"]
    assert snapshot["created_at"] <= snapshot["pending_at"] <= snapshot["started_at"]


async def test_a_used_runner_token_takes_more_jobs_until_the_runner_is_deleted(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, new_runner: NewRunner
) -> None:
    """Rule gitlab.runner-token.reusable: after its first job the token takes the next, until deleted."""
    first = gitlab_sim.create_job(1001, ["deploy"])
    second = gitlab_sim.create_job(1002, ["deploy"], duration_s=3600)
    third = gitlab_sim.create_job(1003, ["deploy"], duration_s=3600)
    runner_id, runner = new_runner(["deploy"])
    taken = await runner.wait_for_job()
    assert taken.id == first["id"]
    assert await runner.wait_until_job_ends(taken) == "success"

    status, again = await runner.request_job()
    assert (status, again and again.id) == (201, second["id"])
    gl.runners.delete(runner_id)

    assert await runner.request_job() == (403, None)
    assert await runner.verify() == 403
    assert gitlab_sim.job(third["id"])["status"] == "pending"


async def test_deleting_a_busy_runner_lets_its_job_finish_and_hides_the_runner(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, new_runner: NewRunner
) -> None:
    """Rule gitlab.runner-delete.job-continues: the job runs on with its job token; runner is null."""
    job = gitlab_sim.create_job(1001, ["deploy"], duration_s=3600)
    runner_id, runner = new_runner(["deploy"])
    taken = await runner.wait_for_job()

    gl.runners.delete(runner_id)

    assert await runner.update_job(taken) == (200, "running")
    api_job = gl.projects.get(1001, lazy=True).jobs.get(job["id"])
    assert (api_job.status, api_job.runner) == ("running", None)
    assert await runner.update_job(taken, "success") == (200, "success")
    assert await runner.update_job(taken) == (403, "success")
    assert gitlab_sim.job(job["id"])["runner_id"] == runner_id  # the simulator's own record keeps it


async def test_failing_and_cancelled_jobs_end_with_their_status(
    gitlab_sim: GitLabSimulator, new_runner: NewRunner
) -> None:
    """A job created with fail=True ends failed (script_failure); a cancelled running job ends canceled."""
    failing = gitlab_sim.create_job(1001, ["a"], fail=True)
    long = gitlab_sim.create_job(1001, ["b"], duration_s=3600)
    taken = []
    for tag in ("a", "b"):
        _, runner = new_runner([tag])
        taken.append((runner, await runner.wait_for_job()))

    gitlab_sim.cancel_job(long["id"])

    finals = [await runner.wait_until_job_ends(job) for runner, job in taken]
    assert finals == ["failed", "canceled"]
    failed = gitlab_sim.job(failing["id"])
    assert (failed["status"], failed["failure_reason"]) == ("failed", "script_failure")


async def test_job_updates_need_the_job_token(gitlab_sim: GitLabSimulator, new_runner: NewRunner) -> None:
    """Rule gitlab.job-update.job-token: PUT /jobs/:id with another token is 403 and changes nothing."""
    job = gitlab_sim.create_job(1001, ["deploy"], duration_s=3600)
    _, runner = new_runner(["deploy"])
    taken = await runner.wait_for_job()

    forged = dataclasses.replace(taken, token=runner.token)  # the runner token is not the job token

    assert (await runner.update_job(forged, "success"))[0] == 403
    assert gitlab_sim.job(job["id"])["status"] == "running"


async def test_unknown_or_deleted_tokens_are_refused(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, http_session: aiohttp.ClientSession, new_runner: NewRunner
) -> None:
    """verify and jobs/request answer 403 for an unknown token and for a deleted runner's token."""
    runner_id, runner = new_runner(["deploy"])
    assert await runner.verify() == 200
    gl.runners.delete(runner_id)

    assert await RunnerClient(http_session, gitlab_sim.base_url, "glrt-unknown").verify() == 403
    assert await runner.verify() == 403
    assert (await runner.request_job())[0] == 403


async def test_pending_job_nobody_takes_is_dropped_as_stuck(make_gitlab_sim: SimulatorFactory) -> None:
    """A job still pending after the pending timeout fails with stuck_or_timeout_failure."""
    sim = make_gitlab_sim(pending_timeout_s=30.0)
    job = sim.create_job(1001, ["nobody-has-this"])

    await wait_until(lambda: sim.job(job["id"])["status"] == "failed", within_s=3.0)

    dropped = sim.job(job["id"])
    assert dropped["failure_reason"] == "stuck_or_timeout_failure"
    assert dropped["finished_at"] - dropped["pending_at"] >= sim.clock.real(30.0) * 0.9
    assert sim.stats()["jobs_stuck"] == 1


async def test_a_taken_job_is_not_dropped_as_stuck(
    make_gitlab_sim: SimulatorFactory,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    http_session: aiohttp.ClientSession,
) -> None:
    """Once a runner has taken the job, the pending timeout no longer applies."""
    # A slow clock (2 s of real time before a pending job turns stuck) so that a busy machine still
    # takes the job in time; the runner is registered before the job exists, for the same reason.
    sim = make_gitlab_sim(time_scale=5.0, pending_timeout_s=10.0)
    client = gitlab_client_for(sim)
    client.auth()
    _, token = _register(client, ["deploy"])
    runner = RunnerClient(http_session, sim.base_url, token)
    job = sim.create_job(1001, ["deploy"], duration_s=40.0)
    taken = await runner.wait_for_job()
    untaken = sim.create_job(1001, ["nobody-has-this"])

    # The positive sign: the pending timeout has passed for a job created later than the taken one.
    await wait_until(lambda: sim.job(untaken["id"])["status"] == "failed", within_s=20)

    assert sim.job(job["id"])["status"] == "running"
    assert await runner.wait_until_job_ends(taken, within_s=30) == "success"


async def _running_job(
    make_gitlab_sim: SimulatorFactory,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    http_session: aiohttp.ClientSession,
) -> tuple[GitLabSimulator, RunnerClient, dict[str, Any], TakenJob]:
    """A simulator that drops a running job not updated for 100 simulated s, and a job running on
    a runner."""
    sim = make_gitlab_sim(running_outdated_s=100.0)
    client = gitlab_client_for(sim)
    client.auth()
    _, token = _register(client, ["deploy"])
    runner = RunnerClient(http_session, sim.base_url, token)
    job = sim.create_job(1001, ["deploy"], duration_s=3600.0)
    return sim, runner, job, await runner.wait_for_job()


async def test_a_job_whose_runner_vm_is_gone_is_dropped_once_outdated(
    make_gitlab_sim: SimulatorFactory,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    http_session: aiohttp.ClientSession,
) -> None:
    """Rule gitlab.host-lost: a running job whose runner's VM went away gets no more updates; it is
    not a success at its end but dropped as stuck once not updated for running_outdated_s."""
    sim, runner, job, taken = await _running_job(make_gitlab_sim, gitlab_client_for, http_session)

    assert await runner.host_lost(taken) == (200, {"jobs": [job["id"]]})

    await wait_until(lambda: sim.job(job["id"])["status"] == "failed", within_s=5.0)
    dropped = sim.job(job["id"])
    assert dropped["failure_reason"] == "stuck_or_timeout_failure"
    assert dropped["finished_at"] - dropped["started_at"] >= sim.clock.real(100.0) * 0.9
    assert sim.stats()["jobs_outdated"] == 1


async def test_a_runner_vm_gone_without_knowing_its_job_names_itself(
    make_gitlab_sim: SimulatorFactory,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    http_session: aiohttp.ClientSession,
) -> None:
    """Rule gitlab.host-lost: a VM gone while its job request was answered names its runner token,
    and the job running on that runner is the one left without updates; a wrong job token is 403."""
    sim, runner, job, taken = await _running_job(make_gitlab_sim, gitlab_client_for, http_session)
    forged = dataclasses.replace(taken, token="glcbt-forged")

    assert (await runner.host_lost(forged))[0] == 403
    assert await runner.host_lost() == (200, {"jobs": [job["id"]]})
    assert sim.job(job["id"])["status"] == "running"
    await wait_until(lambda: sim.job(job["id"])["status"] == "failed", within_s=5.0)
