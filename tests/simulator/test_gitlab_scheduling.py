"""How the simulated GitLab hands pending jobs to runners that ask for them, driven by a runner
client speaking the protocol a runner VM uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import gitlab
from gitlab.v4.objects import CurrentUserRunnerManager

from simulator.gitlab import GitLabSimulator
from simulator.gitlab.testing import RunnerClient, SimulatorFactory
from simulator.testing import wait_until

pytest_plugins = ["gitlab_fixtures"]


def _user_runners(gl: gitlab.Gitlab) -> CurrentUserRunnerManager:
    assert gl.user is not None, "gl.auth() sets the current user"
    return gl.user.runners


def _register(
    gl: gitlab.Gitlab, tags: list[str], *, run_untagged: bool = False, **scope: object
) -> tuple[int, str]:
    attrs = {"runner_type": "group_type", "group_id": 100, **scope}
    created = _user_runners(gl).create({**attrs, "tag_list": tags, "run_untagged": run_untagged})
    return int(created.id), str(created.token)


async def test_runner_takes_only_a_job_whose_tags_it_has(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, gitlab_http: aiohttp.ClientSession
) -> None:
    """A runner takes the job whose tags are all its own, not an untagged job or one with an extra tag."""
    untagged = gitlab_sim.create_job(1001, [], duration_s=3600)
    extra = gitlab_sim.create_job(1001, ["deploy", "gpu"], duration_s=3600)
    wanted = gitlab_sim.create_job(1001, ["deploy"])
    runner_id, token = _register(gl, ["deploy", "linux"])
    runner = RunnerClient(gitlab_http, gitlab_sim.base_url, token)

    status, body = await runner.connect("vm-1")
    job_id = await runner.wait_for_job()

    assert (status, body) == (200, {"runner_id": runner_id})
    assert job_id == wanted["id"]
    final = await runner.wait_for_status("exited")
    assert final == {"status": "exited", "job_id": wanted["id"]}
    done = gitlab_sim.job(wanted["id"])
    assert (done["status"], done["runner_id"]) == ("success", runner_id)
    assert gitlab_sim.job(untagged["id"])["status"] == "pending"
    assert gitlab_sim.job(extra["id"])["status"] == "pending"
    registration = gl.runners.get(runner_id)
    assert (registration.status, registration.online, registration.name) == ("online", True, "vm-1")


async def test_untagged_jobs_go_to_runners_that_run_untagged(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, gitlab_http: aiohttp.ClientSession
) -> None:
    """A runner with run_untagged true takes an untagged job."""
    job = gitlab_sim.create_job(1002, [])
    _, token = _register(gl, ["deploy"], run_untagged=True)
    runner = RunnerClient(gitlab_http, gitlab_sim.base_url, token)
    await runner.connect()
    assert await runner.wait_for_job() == job["id"]


async def test_oldest_matching_job_goes_first(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, gitlab_http: aiohttp.ClientSession
) -> None:
    """Of two jobs the runner may take, it is given the one pending longer."""
    older = gitlab_sim.create_job(1001, ["deploy"])
    gitlab_sim.create_job(1002, ["deploy"])
    _, token = _register(gl, ["deploy"])
    runner = RunnerClient(gitlab_http, gitlab_sim.base_url, token)
    await runner.connect()
    assert await runner.wait_for_job() == older["id"]


async def test_runners_only_take_jobs_of_projects_they_serve(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, gitlab_http: aiohttp.ClientSession
) -> None:
    """A project runner and a subgroup runner do not take a job of a project outside their scope."""
    job = gitlab_sim.create_job(1001, ["deploy"])
    _, project_token = _register(gl, ["deploy"], runner_type="project_type", project_id=1002)
    _, subgroup_token = _register(gl, ["deploy"], group_id=101)
    for token in (project_token, subgroup_token):
        runner = RunnerClient(gitlab_http, gitlab_sim.base_url, token)
        await runner.connect()
        assert await runner.request_job() == (204, None)
    _, group_token = _register(gl, ["deploy"], group_id=100)
    top = RunnerClient(gitlab_http, gitlab_sim.base_url, group_token)
    await top.connect()
    assert await top.request_job() == (200, job["id"])


async def test_waiting_runner_gets_a_job_created_later(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, gitlab_http: aiohttp.ClientSession
) -> None:
    """With nothing pending request_job answers 204 and the runner waits; a new job is its next answer."""
    runner_id, token = _register(gl, ["deploy"])
    runner = RunnerClient(gitlab_http, gitlab_sim.base_url, token)
    await runner.connect()
    assert await runner.request_job() == (204, None)
    assert await runner.status() == {"status": "waiting", "job_id": None}

    job = gitlab_sim.create_job(1003, ["deploy"], duration_s=3600)

    assert await runner.request_job() == (200, job["id"])
    assert await runner.status() == {"status": "running", "job_id": job["id"]}
    assert await runner.request_job() == (200, job["id"])  # asking again is answered with the same job
    snapshot = gitlab_sim.job(job["id"])
    assert snapshot["status"] == "running"
    assert snapshot["runner_connected_at"] == gitlab_sim.runner(runner_id)["connected_at"]
    assert snapshot["created_at"] <= snapshot["pending_at"] <= snapshot["started_at"]


async def test_run_single_exits_after_one_job_but_stays_registered(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, gitlab_http: aiohttp.ClientSession
) -> None:
    """After its one job the runner exits and asks for no more; its registration remains until deleted."""
    first = gitlab_sim.create_job(1001, ["deploy"])
    gitlab_sim.create_job(1001, ["deploy"], duration_s=3600)
    runner_id, token = _register(gl, ["deploy"])
    runner = RunnerClient(gitlab_http, gitlab_sim.base_url, token)
    await runner.connect()
    assert await runner.wait_for_job() == first["id"]
    await runner.wait_for_status("exited")

    status, _ = await runner.request_job()

    assert status == 409
    assert gl.runners.get(runner_id).id == runner_id
    assert gitlab_sim.runner(runner_id)["deleted"] is False
    finished = gitlab_sim.job(first["id"])
    assert finished["started_at"] <= finished["finished_at"]


async def test_failing_and_cancelled_jobs_end_the_runner_too(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, gitlab_http: aiohttp.ClientSession
) -> None:
    """A job created with fail=True ends failed (script_failure); a cancelled running job ends canceled."""
    failing = gitlab_sim.create_job(1001, ["a"], fail=True)
    long = gitlab_sim.create_job(1001, ["b"], duration_s=3600)
    runners = []
    for tag in ("a", "b"):
        _, token = _register(gl, [tag])
        runner = RunnerClient(gitlab_http, gitlab_sim.base_url, token)
        await runner.connect()
        await runner.wait_for_job()
        runners.append(runner)

    gitlab_sim.cancel_job(long["id"])

    for runner in runners:
        await runner.wait_for_status("exited")
    failed = gitlab_sim.job(failing["id"])
    assert (failed["status"], failed["failure_reason"]) == ("failed", "script_failure")
    assert gitlab_sim.job(long["id"])["status"] == "canceled"


async def test_deleting_a_busy_runner_fails_its_job(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, gitlab_http: aiohttp.ClientSession
) -> None:
    """Deleting a runner mid-job fails the job (runner_system_failure) and the runner process exits."""
    job = gitlab_sim.create_job(1001, ["deploy"], duration_s=3600)
    runner_id, token = _register(gl, ["deploy"])
    runner = RunnerClient(gitlab_http, gitlab_sim.base_url, token)
    await runner.connect()
    await runner.wait_for_job()

    gl.runners.delete(runner_id)

    assert (await runner.status())["status"] == "exited"
    ended = gitlab_sim.job(job["id"])
    assert (ended["status"], ended["failure_reason"]) == ("failed", "runner_system_failure")


async def test_unknown_or_deleted_tokens_cannot_connect(
    gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator, gitlab_http: aiohttp.ClientSession
) -> None:
    """connect answers 403 for an unknown token and for a deleted runner's token; so does request_job."""
    runner_id, token = _register(gl, ["deploy"])
    runner = RunnerClient(gitlab_http, gitlab_sim.base_url, token)
    await runner.connect()
    gl.runners.delete(runner_id)

    assert (await RunnerClient(gitlab_http, gitlab_sim.base_url, "glrt-unknown").connect())[0] == 403
    assert (await runner.connect())[0] == 403
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
    gitlab_http: aiohttp.ClientSession,
) -> None:
    """Once a runner has taken the job, the pending timeout no longer applies."""
    sim = make_gitlab_sim(pending_timeout_s=10.0)
    job = sim.create_job(1001, ["deploy"], duration_s=40.0)
    client = gitlab_client_for(sim)
    client.auth()
    _, token = _register(client, ["deploy"])
    runner = RunnerClient(gitlab_http, sim.base_url, token)
    await runner.connect()
    await runner.wait_for_job()

    await asyncio.sleep(sim.clock.real(15.0))

    assert sim.job(job["id"])["status"] == "running"
    await runner.wait_for_status("exited")
    assert sim.job(job["id"])["status"] == "success"
