"""How the simulated Actions service hands queued jobs to JIT runners, driven by a runner guest."""

from __future__ import annotations

import aiohttp
import pytest

from simulator.github import ApiError, GitHubSimulator
from simulator.github.testing import RunnerGuest, SimulatorFactory, org_jit_config, static_client
from simulator.testing import eventually, wait_until

pytest_plugins = ["github_fixtures"]


def _job(sim: GitHubSimulator, job_id: int) -> dict[str, object]:
    return next(j for j in sim.jobs() if j["id"] == job_id)


def _runner(sim: GitHubSimulator, runner_id: int) -> dict[str, object]:
    return next(r for r in sim.runners() if r["id"] == runner_id)


async def test_runner_takes_a_matching_job_and_not_another(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """A connected runner takes the queued job whose labels it has (case-insensitively), not others."""
    other = github_sim.queue_job("acme", "web", ["self-hosted", "gpu"], duration_s=3600)
    wanted = github_sim.queue_job("acme", "web", ["self-hosted", "Linux"])
    guest = RunnerGuest(http_session, org_jit_config(github_sim, "vm-1", ["self-hosted", "linux", "x64"]))

    status, body = await guest.connect()

    assert status == 200
    assert body == {"runner_id": guest.config.agent_id, "runner_name": "vm-1"}
    final = await guest.wait_for_status("exited")
    assert final["job_id"] == wanted["id"]
    done = _job(github_sim, wanted["id"])
    assert (done["status"], done["conclusion"], done["runner_name"]) == ("completed", "success", "vm-1")
    assert _job(github_sim, other["id"])["status"] == "queued"


async def test_runner_that_connects_first_gets_the_next_job(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """An idle runner is assigned a matching job as soon as it is queued."""
    guest = RunnerGuest(http_session, org_jit_config(github_sim, "vm-1", ["self-hosted"]))
    await guest.connect()
    assert (await guest.status())["status"] == "idle"

    job = github_sim.queue_job("acme", "api", ["self-hosted"], duration_s=3600)

    busy = await guest.wait_for_status("busy")
    assert busy["job_id"] == job["id"]
    snapshot = _job(github_sim, job["id"])
    assert snapshot["status"] == "in_progress"
    assert snapshot["runner_connected_at"] == _runner(github_sim, guest.config.agent_id)["connected_at"]
    github_sim.cancel_job(job["id"])


async def test_jobs_are_assigned_oldest_first(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Runners are interchangeable: each connecting runner takes the oldest queued job it can run."""
    first = github_sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    second = github_sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    # Registered for the second job, but the first one is older.
    late = RunnerGuest(http_session, org_jit_config(github_sim, "for-second", ["self-hosted"]))
    await late.connect()
    assert (await late.wait_for_status("busy"))["job_id"] == first["id"]
    early = RunnerGuest(http_session, org_jit_config(github_sim, "for-first", ["self-hosted"]))
    await early.connect()
    assert (await early.wait_for_status("busy"))["job_id"] == second["id"]
    for job in (first, second):
        github_sim.cancel_job(job["id"])


async def test_repo_runner_only_takes_its_repository_jobs(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """A repository-level runner ignores jobs of other repositories; an org runner takes them."""
    repo = static_client(github_sim).get_repo("acme/web")
    _, data = repo.requester.requestJsonAndCheck(
        "POST",
        f"{repo.url}/actions/runners/generate-jitconfig",
        input={"name": "repo-vm", "runner_group_id": 1, "labels": ["self-hosted"]},
    )
    api_job = github_sim.queue_job("acme", "api", ["self-hosted"], duration_s=3600)
    repo_guest = RunnerGuest(http_session, data["encoded_jit_config"])
    await repo_guest.connect()

    org_guest = RunnerGuest(http_session, org_jit_config(github_sim, "org-vm", ["self-hosted"]))
    await org_guest.connect()

    assert (await org_guest.wait_for_status("busy"))["job_id"] == api_job["id"]
    assert (await repo_guest.status())["status"] == "idle"
    github_sim.cancel_job(api_job["id"])


async def test_jit_config_is_single_use(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Connecting twice with one JIT config gets 409, also after the runner has finished."""
    guest = RunnerGuest(http_session, org_jit_config(github_sim, "vm-1", ["self-hosted"]))
    assert (await guest.connect())[0] == 200
    assert (await guest.connect())[0] == 409
    github_sim.queue_job("acme", "web", ["self-hosted"])
    await guest.wait_for_status("exited")
    assert (await guest.connect())[0] == 409


async def test_invalid_or_deleted_jit_configs_get_401(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """A garbled JIT config, a wrong runner token, or a deleted registration cannot connect."""
    async with http_session.post(
        f"{github_sim.base_url}/_sim/runner/connect", json={"jitconfig": "bm90IGEgY29uZmln"}
    ) as response:
        assert response.status == 401

    org = static_client(github_sim).get_organization("acme")
    jit = org.create_self_hosted_runner_jitconfig("vm-1", 1, ["self-hosted"])
    guest = RunnerGuest(http_session, jit.encoded_jit_config)
    async with http_session.get(
        f"{github_sim.base_url}/_sim/runner/{jit.runner.id}", headers={"Authorization": "Bearer wrong"}
    ) as response:
        assert response.status == 401
    org.delete_self_hosted_runner(jit.runner.id)

    assert (await guest.connect())[0] == 401
    assert (await guest.status())["status"] == "exited"


async def test_deleting_an_idle_runner_makes_it_exit(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Deleting an online idle runner's registration makes the runner exit."""
    org = static_client(github_sim).get_organization("acme")
    jit = org.create_self_hosted_runner_jitconfig("vm-1", 1, ["self-hosted"])
    guest = RunnerGuest(http_session, jit.encoded_jit_config)
    await guest.connect()
    assert org.get_self_hosted_runner(jit.runner.id).status == "online"

    org.delete_self_hosted_runner(jit.runner.id)

    assert await guest.status() == {"status": "exited", "job_id": None}
    job = github_sim.queue_job("acme", "web", ["self-hosted"])
    assert _job(github_sim, job["id"])["status"] == "queued"
    # The positive sign that nothing else held it back: a live runner gets it at once.
    other = RunnerGuest(http_session, org_jit_config(github_sim, "vm-2", ["self-hosted"]))
    await other.connect()
    assert (await other.wait_for_status("busy"))["job_id"] == job["id"]


async def test_finished_runner_deregisters_itself(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """After its one job a JIT runner exits and its registration is gone from the API."""
    org = static_client(github_sim).get_organization("acme")
    jit = org.create_self_hosted_runner_jitconfig("vm-1", 1, ["self-hosted"])
    github_sim.queue_job("acme", "web", ["self-hosted"], duration_s=1)
    guest = RunnerGuest(http_session, jit.encoded_jit_config)
    await guest.connect()

    await guest.wait_for_status("exited")

    assert org.get_self_hosted_runners().totalCount == 0
    record = _runner(github_sim, jit.runner.id)
    assert record["removed"] is True
    assert record["removal_reason"] == "ephemeral"
    assert record["exited_at"] is not None


async def test_waiting_job_is_assigned_only_after_approval(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """A job waiting for environment approval is not assigned until approve_job."""
    job = github_sim.queue_job("acme", "web", ["self-hosted"], waiting=True, duration_s=3600)
    assert job["status"] == "waiting"
    guest = RunnerGuest(http_session, org_jit_config(github_sim, "vm-1", ["self-hosted"]))
    await guest.connect()  # an idle runner is offered the queued jobs when it connects
    assert (await guest.status())["status"] == "idle"

    approved = github_sim.approve_job(job["id"])

    assert approved["approved_at"] is not None
    assert (await guest.wait_for_status("busy"))["job_id"] == job["id"]
    with pytest.raises(ApiError):
        github_sim.approve_job(job["id"])
    github_sim.cancel_job(job["id"])


async def test_cancelling_a_queued_job(github_sim: GitHubSimulator) -> None:
    """A cancelled queued job completes as cancelled without a runner; cancelling twice is refused."""
    job = github_sim.queue_job("acme", "web", ["self-hosted"])

    cancelled = github_sim.cancel_job(job["id"])

    assert (cancelled["status"], cancelled["conclusion"], cancelled["runner_name"]) == (
        "completed",
        "cancelled",
        None,
    )
    with pytest.raises(ApiError) as caught:
        github_sim.cancel_job(job["id"])
    assert caught.value.status == 409


async def test_cancelling_a_running_job_stops_its_runner(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """A cancelled running job keeps its runner fields and its runner exits."""
    job = github_sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    guest = RunnerGuest(http_session, org_jit_config(github_sim, "vm-1", ["self-hosted"]))
    await guest.connect()
    await guest.wait_for_status("busy")

    cancelled = github_sim.cancel_job(job["id"])

    assert (cancelled["conclusion"], cancelled["runner_name"]) == ("cancelled", "vm-1")
    assert (await guest.status())["status"] == "exited"


async def test_hosted_job_runs_without_self_hosted_runners(github_sim: GitHubSimulator) -> None:
    """A job for GitHub-hosted runners runs on the named hosted runner."""
    job = github_sim.queue_job(
        "acme", "web", ["ubuntu-latest"], hosted_runner_name="GitHub Actions 2", duration_s=1
    )

    await wait_until(lambda: _job(github_sim, job["id"])["status"] == "completed")

    done = _job(github_sim, job["id"])
    assert (done["conclusion"], done["runner_name"], done["runner_group_name"]) == (
        "success",
        "GitHub Actions 2",
        "GitHub Actions",
    )
    assert github_sim.runners() == []


async def test_unclaimed_jobs_are_cancelled_after_the_queue_timeout(
    make_github_sim: SimulatorFactory,
) -> None:
    """A self-hosted job no runner takes is cancelled after the (scaled) queue timeout."""
    sim = make_github_sim(queued_job_timeout_s=10.0)
    job = sim.queue_job("acme", "web", ["self-hosted", "never"])

    await wait_until(lambda: _job(sim, job["id"])["status"] == "completed")

    assert _job(sim, job["id"])["conclusion"] == "cancelled"
    assert sim.stats()["jobs_expired"] == 1


def test_unknown_repository_cannot_queue_jobs(github_sim: GitHubSimulator) -> None:
    """queue_job for a repository the simulator does not know raises a 404 ApiError."""
    with pytest.raises(ApiError) as caught:
        github_sim.queue_job("acme", "nope", ["self-hosted"])
    assert caught.value.status == 404


async def test_runs_and_jobs_are_listed_for_recovery(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Queued runs, their jobs and single jobs are readable through PyGithub."""
    queued = github_sim.queue_job("acme", "web", ["self-hosted", "linux"], name="test")
    running = github_sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    guest = RunnerGuest(http_session, org_jit_config(github_sim, "vm-1", ["self-hosted"]))
    await guest.connect()
    assert (await guest.wait_for_status("busy"))["job_id"] == running["id"]
    repo = static_client(github_sim).get_repo("acme/web")

    runs = list(repo.get_workflow_runs(status="queued"))

    assert [run.id for run in runs] == [queued["run_id"]]
    jobs = list(runs[0].jobs())
    assert [(j.id, j.name, j.status, j.labels) for j in jobs] == [
        (queued["id"], "test", "queued", ["self-hosted", "linux"])
    ]
    assert repo.get_workflow_run(running["run_id"]).status == "in_progress"
    _, job = repo.requester.requestJsonAndCheck("GET", f"{repo.url}/actions/jobs/{running['id']}")
    assert (job["status"], job["runner_name"], job["runner_id"]) == (
        "in_progress",
        "vm-1",
        guest.config.agent_id,
    )
    github_sim.cancel_job(running["id"])


async def test_a_jit_config_never_used_within_a_day_is_worthless(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.jit.unconnected-expiry: a JIT runner that never connects is removed after a day."""
    sim = make_github_sim(unconnected_runner_ttl_s=60.0)  # a simulated minute: 10 ms at this scale
    org = static_client(sim).get_organization("acme")
    jit = org.create_self_hosted_runner_jitconfig("vm-late", 1, ["self-hosted"])

    await wait_until(lambda: not list(org.get_self_hosted_runners()), within_s=5)

    guest = RunnerGuest(http_session, jit.encoded_jit_config)
    assert (await guest.connect())[0] == 401
    assert [r["removal_reason"] for r in sim.runners() if r["id"] == jit.runner.id] == ["never connected"]


async def test_a_new_job_reaches_an_idle_runner_after_the_assignment_delay(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.assignment-delay: a job queued for an idle runner runs only after assignment_delay_s."""
    sim = make_github_sim(assignment_delay_s=(100.0, 100.0))
    guest = RunnerGuest(http_session, org_jit_config(sim, "vm-1", ["self-hosted"]))
    await guest.connect()

    job = sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)

    assert (_job(sim, job["id"])["status"], (await guest.status())["status"]) == ("queued", "idle")
    await guest.wait_for_status("busy")
    started = _job(sim, job["id"])
    assert float(str(started["started_at"])) - float(str(started["queued_at"])) >= sim.clock.real(100.0) * 0.9
    sim.cancel_job(job["id"])


async def test_a_new_runner_reaches_a_queued_job_after_the_assignment_delay(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.assignment-delay: a connecting runner gets a queued job only after assignment_delay_s."""
    sim = make_github_sim(assignment_delay_s=(100.0, 100.0))
    job = sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    guest = RunnerGuest(http_session, org_jit_config(sim, "vm-1", ["self-hosted"]))
    await guest.connect()
    connected_at = float(str(_runner(sim, guest.config.agent_id)["connected_at"]))

    assert (await guest.status())["status"] == "idle"
    await guest.wait_for_status("busy")
    assert float(str(_job(sim, job["id"])["started_at"])) - connected_at >= sim.clock.real(100.0) * 0.9
    sim.cancel_job(job["id"])


async def test_a_runner_deleted_before_its_assignment_gives_the_job_back(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """A runner deleted between match and assignment is not busy (204); its job goes to the next runner."""
    sim = make_github_sim(assignment_delay_s=(200.0, 200.0))
    job = sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    first = RunnerGuest(http_session, org_jit_config(sim, "vm-1", ["self-hosted"]))
    await first.connect()
    org = static_client(sim).get_organization("acme")

    org.delete_self_hosted_runner(first.config.agent_id)

    second = RunnerGuest(http_session, org_jit_config(sim, "vm-2", ["self-hosted"]))
    await second.connect()
    assert (await second.wait_for_status("busy"))["job_id"] == job["id"]
    assert (await first.status())["status"] == "exited"
    sim.cancel_job(job["id"])


async def test_a_job_cancelled_before_its_assignment_frees_the_runner(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """A job cancelled between match and assignment leaves its runner idle for the next job."""
    sim = make_github_sim(assignment_delay_s=(200.0, 200.0))
    guest = RunnerGuest(http_session, org_jit_config(sim, "vm-1", ["self-hosted"]))
    await guest.connect()
    cancelled = sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    sim.cancel_job(cancelled["id"])

    nxt = sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)

    assert (await guest.wait_for_status("busy"))["job_id"] == nxt["id"]
    assert _job(sim, cancelled["id"])["runner_id"] is None
    sim.cancel_job(nxt["id"])


async def test_a_runner_whose_machine_is_gone_is_offline_and_gets_no_job(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.host-lost: jobs reach a runner only on its listener's poll, so a runner whose VM
    went away is offline and a new job waits for a runner that is there."""
    gone = RunnerGuest(http_session, org_jit_config(github_sim, "vm-gone", ["self-hosted"]))
    await gone.connect()

    assert (await gone.host_lost())["status"] == "exited"

    assert _runner(github_sim, gone.config.agent_id)["status"] == "offline"
    job = github_sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    assert _job(github_sim, job["id"])["status"] == "queued"
    there = RunnerGuest(http_session, org_jit_config(github_sim, "vm-there", ["self-hosted"]))
    await there.connect()
    assert (await there.wait_for_status("busy"))["job_id"] == job["id"]
    github_sim.cancel_job(job["id"])


async def test_a_job_matched_to_a_runner_whose_machine_is_gone_goes_back_to_the_queue(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.host-lost: a runner gone between match and assignment never acquires the job;
    the job is queued again, in its place, for the next runner."""
    sim = make_github_sim(assignment_delay_s=(200.0, 200.0))
    job = sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    gone = RunnerGuest(http_session, org_jit_config(sim, "vm-gone", ["self-hosted"]))
    await gone.connect()

    await gone.host_lost()

    there = RunnerGuest(http_session, org_jit_config(sim, "vm-there", ["self-hosted"]))
    await there.connect()
    assert (await there.wait_for_status("busy"))["job_id"] == job["id"]
    assert _job(sim, job["id"])["runner_name"] == "vm-there"
    sim.cancel_job(job["id"])


async def test_a_job_whose_runner_machine_is_gone_fails_when_its_lock_lapses(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.host-lost: the job of a runner whose VM went away does not finish; it fails once
    the lock its last renewal took lapses, and the ephemeral registration goes with it."""
    sim = make_github_sim(job_lock_s=300.0, job_lock_renewal_s=60.0)
    guest = RunnerGuest(http_session, org_jit_config(sim, "vm-1", ["self-hosted"]))
    await guest.connect()
    job = sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    await guest.wait_for_status("busy")

    await guest.host_lost()

    running = _job(sim, job["id"])
    assert (running["status"], _runner(sim, guest.config.agent_id)["status"]) == ("in_progress", "offline")
    lost_at = sim.clock.now()

    async def ended() -> dict[str, object] | None:
        current = _job(sim, job["id"])
        return current if current["status"] == "completed" else None

    done = await eventually(ended, within_s=5)
    assert (done["conclusion"], done["runner_name"]) == ("failure", "vm-1")
    # Within a renewal of the loss, the lock lapses job_lock_s later: never the job's own end.
    waited_sim = (float(str(done["completed_at"])) - lost_at) * sim.clock.time_scale
    assert 300.0 - 60.0 - 1 <= waited_sim < 3600.0
    assert _runner(sim, guest.config.agent_id)["removal_reason"] == "ephemeral"
    stats = sim.stats()
    assert (stats["runners_host_lost"], stats["jobs_abandoned"], stats["jobs_failure"]) == (1, 1, 1)
