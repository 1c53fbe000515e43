"""Self-hosted runner registration, listing and deletion through the real PyGithub."""

from __future__ import annotations

import json
import time
from base64 import b64decode
from typing import Any

import aiohttp
import pytest
from github import GithubException, RateLimitExceededException, UnknownObjectException

from simulator.github import GitHubSimulator, RunnerGroup
from simulator.github.config import GitHubSimConfig, PointsLimit, jit_floor_s
from simulator.github.testing import (
    RunnerGuest,
    SimulatorFactory,
    installation_client,
    org_jit_config,
    static_client,
)
from simulator.testing import eventually

pytest_plugins = ["github_fixtures"]


def _repo_jitconfig(sim: GitHubSimulator, full_name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    repo = static_client(sim).get_repo(full_name)
    try:
        _, data = repo.requester.requestJsonAndCheck(
            "POST", f"{repo.url}/actions/runners/generate-jitconfig", input=body
        )
    except GithubException as exc:
        return exc.status, exc.data
    return 201, data


def test_org_jitconfig_registers_an_offline_runner(github_sim: GitHubSimulator) -> None:
    """generate-jitconfig for an org returns the runner (offline, custom labels) and its config."""
    org = installation_client(github_sim, "acme").get_organization("acme")

    jit = org.create_self_hosted_runner_jitconfig("vm-1", 1, ["self-hosted", "linux", "x64"])

    assert jit.runner.name == "vm-1"
    assert jit.runner.status == "offline"
    assert jit.runner.busy is False
    assert [label["name"] for label in jit.runner.labels] == ["self-hosted", "linux", "x64"]
    assert {label["type"] for label in jit.runner.labels} == {"custom"}
    assert github_sim.stats()["jit_configs_issued"] == 1


def test_encoded_jit_config_holds_the_runner_files(github_sim: GitHubSimulator) -> None:
    """The encoded config is base64 JSON of base64 .runner/.credentials/.credentials_rsaparams files."""
    encoded = org_jit_config(github_sim, "vm-1", ["self-hosted"])

    files = json.loads(b64decode(encoded))
    runner = json.loads(b64decode(files[".runner"]))
    credentials = json.loads(b64decode(files[".credentials"]))

    assert set(files) == {".runner", ".credentials", ".credentials_rsaparams"}
    assert runner["agentName"] == "vm-1"
    assert runner["poolId"] == 1
    assert runner["serverUrl"] == github_sim.base_url
    assert runner["gitHubUrl"] == f"{github_sim.base_url}/acme"
    assert runner["workFolder"] == "_work"
    assert credentials["scheme"] == "OAuth"
    assert credentials["data"]["token"]


def test_repo_jitconfig_through_the_requester(github_sim: GitHubSimulator) -> None:
    """generate-jitconfig for a repository works through PyGithub's requester."""
    status, data = _repo_jitconfig(
        github_sim,
        "acme/web",
        {"name": "vm-r", "runner_group_id": 1, "labels": ["self-hosted"], "work_folder": "w"},
    )
    assert status == 201
    assert data["runner"]["name"] == "vm-r"
    runner = json.loads(b64decode(json.loads(b64decode(data["encoded_jit_config"]))[".runner"]))
    assert runner["gitHubUrl"] == f"{github_sim.base_url}/acme/web"
    assert runner["workFolder"] == "w"


def test_duplicate_runner_name_conflicts_within_a_scope(github_sim: GitHubSimulator) -> None:
    """A second registration with a taken name in the same org gets 409; other scopes are separate."""
    org = static_client(github_sim).get_organization("acme")
    org.create_self_hosted_runner_jitconfig("vm-dup", 1, ["self-hosted"])

    with pytest.raises(GithubException) as caught:
        org.create_self_hosted_runner_jitconfig("vm-dup", 1, ["self-hosted"])

    assert caught.value.status == 409
    assert "already exists" in caught.value.data["message"]
    status, _ = _repo_jitconfig(
        github_sim, "acme/web", {"name": "vm-dup", "runner_group_id": 1, "labels": ["a"]}
    )
    assert status == 201


@pytest.mark.parametrize(
    "body",
    [
        {"name": "vm", "runner_group_id": 1, "labels": []},
        {"name": "vm", "runner_group_id": 1},
        {"name": "", "runner_group_id": 1, "labels": ["a"]},
        {"name": "vm", "runner_group_id": 7, "labels": ["a"]},
        {"name": "vm", "runner_group_id": 1, "labels": [f"l{i}" for i in range(101)]},
    ],
    ids=["no-labels", "labels-missing", "empty-name", "unknown-group", "101-labels"],
)
def test_invalid_jitconfig_requests_get_422(github_sim: GitHubSimulator, body: dict[str, Any]) -> None:
    """Empty or missing labels, more than 100 labels, an empty name or an unknown group get 422."""
    status, _ = _repo_jitconfig(github_sim, "acme/web", body)
    assert status == 422


def test_extra_org_runner_groups_are_accepted(make_github_sim: SimulatorFactory) -> None:
    """A configured organisation runner group can be used; repositories only have group 1."""
    sim = make_github_sim(runner_groups=(RunnerGroup(5, "vnet-injected"),))
    jit = static_client(sim).get_organization("acme").create_self_hosted_runner_jitconfig("vm", 5, ["a"])
    assert jit.runner.runner_group_id == 5
    status, _ = _repo_jitconfig(sim, "acme/web", {"name": "vm", "runner_group_id": 5, "labels": ["a"]})
    assert status == 422


def test_runner_list_is_paginated_with_link_headers(github_sim: GitHubSimulator) -> None:
    """PyGithub walks all pages of the runner list and reads total_count; name= filters."""
    org = static_client(github_sim, per_page=2).get_organization("acme")
    for i in range(5):
        org.create_self_hosted_runner_jitconfig(f"vm-{i}", 1, ["self-hosted"])

    runners = org.get_self_hosted_runners()

    assert runners.totalCount == 5
    assert [r.name for r in runners] == [f"vm-{i}" for i in range(5)]
    assert [r.name for r in org.get_self_hosted_runners(name="vm-3")] == ["vm-3"]


def test_org_and_repo_runner_lists_are_separate(github_sim: GitHubSimulator) -> None:
    """Repository runners are listed under the repository, not the organisation."""
    gh = static_client(github_sim)
    _repo_jitconfig(github_sim, "acme/web", {"name": "vm-r", "runner_group_id": 1, "labels": ["a"]})
    gh.get_organization("acme").create_self_hosted_runner_jitconfig("vm-o", 1, ["a"])

    repo = gh.get_repo("acme/web")
    _, data = repo.requester.requestJsonAndCheck("GET", f"{repo.url}/actions/runners")

    assert [r["name"] for r in data["runners"]] == ["vm-r"]
    assert [r.name for r in gh.get_organization("acme").get_self_hosted_runners()] == ["vm-o"]


def test_runner_is_fetched_and_deleted(github_sim: GitHubSimulator) -> None:
    """A registration can be read and deleted (204); afterwards it is 404."""
    org = static_client(github_sim).get_organization("acme")
    runner_id = org.create_self_hosted_runner_jitconfig("vm-del", 1, ["self-hosted"]).runner.id

    assert org.get_self_hosted_runner(runner_id).name == "vm-del"
    org.delete_self_hosted_runner(runner_id)

    with pytest.raises(UnknownObjectException):
        org.get_self_hosted_runner(runner_id)
    with pytest.raises(UnknownObjectException):
        org.delete_self_hosted_runner(runner_id)
    assert org.get_self_hosted_runners().totalCount == 0
    removed = next(r for r in github_sim.runners() if r["id"] == runner_id)
    assert removed["removed"] is True
    assert removed["removal_reason"] == "deleted"


async def test_busy_runner_cannot_be_deleted(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """Deleting a runner that is running a job gets 422 and the runner keeps running."""
    github_sim = make_github_sim(busy_lag_s=(0.0, 0.0))
    org = static_client(github_sim).get_organization("acme")
    jit = org.create_self_hosted_runner_jitconfig("vm-busy", 1, ["self-hosted"])
    job = github_sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    guest = RunnerGuest(http_session, jit.encoded_jit_config)
    await guest.connect()
    await guest.wait_for_status("busy")

    with pytest.raises(GithubException) as caught:
        org.delete_self_hosted_runner(jit.runner.id)

    assert caught.value.status == 422
    assert caught.value.data["message"] == (
        "Bad request - Runner vm-busy is currently running a job and cannot be deleted."
    )
    fetched = org.get_self_hosted_runner(jit.runner.id)
    assert (fetched.status, fetched.busy) == ("online", True)
    github_sim.cancel_job(job["id"])


def test_registrations_are_rate_limited_per_scope(make_github_sim: SimulatorFactory) -> None:
    """Past the per-window registration limit GitHub answers with a secondary rate limit and Retry-After."""
    sim = make_github_sim(registrations_per_window=2)
    org = static_client(sim).get_organization("acme")
    org.create_self_hosted_runner_jitconfig("vm-1", 1, ["a"])
    org.create_self_hosted_runner_jitconfig("vm-2", 1, ["a"])

    with pytest.raises(RateLimitExceededException) as caught:
        org.create_self_hosted_runner_jitconfig("vm-3", 1, ["a"])

    assert caught.value.status == 403
    assert caught.value.headers is not None
    assert int(caught.value.headers["retry-after"]) >= 1
    assert sim.stats()["jit_configs_rate_limited"] == 1
    status, _ = _repo_jitconfig(sim, "acme/web", {"name": "vm-3", "runner_group_id": 1, "labels": ["a"]})
    assert status == 201


def test_rate_limit_can_answer_429(make_github_sim: SimulatorFactory) -> None:
    """The secondary rate limit can be configured to answer 429 instead of 403."""
    sim = make_github_sim(registrations_per_window=1, rate_limit_status=429)
    _repo_jitconfig(sim, "acme/web", {"name": "vm-1", "runner_group_id": 1, "labels": ["a"]})
    status, data = _repo_jitconfig(sim, "acme/web", {"name": "vm-2", "runner_group_id": 1, "labels": ["a"]})
    assert status == 429
    assert data["message"].startswith("You have exceeded a secondary rate limit")


async def test_rate_limit_window_slides(make_github_sim: SimulatorFactory) -> None:
    """Registrations are admitted again once the (scaled) window has passed."""
    sim = make_github_sim(registrations_per_window=1, registration_window_s=5.0)
    body = {"runner_group_id": 1, "labels": ["a"]}
    assert _repo_jitconfig(sim, "acme/web", {**body, "name": "vm-1"})[0] == 201
    refused_at = time.monotonic()
    assert _repo_jitconfig(sim, "acme/web", {**body, "name": "vm-2"})[0] == 403

    def answered() -> int | None:
        status, _ = _repo_jitconfig(sim, "acme/web", {**body, "name": "vm-2"})
        return None if status == 403 else status

    status = await eventually(answered, within_s=10.0, poll_s=0.01, what="the window sliding")
    assert status == 201 and time.monotonic() - refused_at >= sim.clock.real(5.0) * 0.5


def test_user_accounts_have_no_org_runners(github_sim: GitHubSimulator) -> None:
    """A user account is not an organisation: its org runner endpoints are 404."""
    gh = static_client(github_sim)
    with pytest.raises(UnknownObjectException):
        gh.get_organization("octocat")


async def _running_job(
    sim: GitHubSimulator, http_session: aiohttp.ClientSession, name: str
) -> tuple[Any, Any, RunnerGuest, dict[str, Any]]:
    """An org runner `name` that has been assigned a long job (its guest already reads busy)."""
    org = static_client(sim).get_organization("acme")
    jit = org.create_self_hosted_runner_jitconfig(name, 1, ["self-hosted"])
    job = sim.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    guest = RunnerGuest(http_session, jit.encoded_jit_config)
    await guest.connect()
    await guest.wait_for_status("busy")
    return org, jit, guest, job


async def test_busy_reads_false_for_the_lag_after_assignment_then_true(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.runner.busy-lag: after an assignment REST busy reads false for busy_lag_s, then true."""
    sim = make_github_sim(busy_lag_s=(150.0, 150.0))
    org, jit, _, job = await _running_job(sim, http_session, "vm-lag")

    assert org.get_self_hosted_runner(jit.runner.id).busy is False
    assert [r.busy for r in org.get_self_hosted_runners()] == [False]
    assert next(r for r in sim.runners() if r["id"] == jit.runner.id)["busy"] is True

    await eventually(lambda: org.get_self_hosted_runner(jit.runner.id).busy, within_s=10.0, poll_s=0.05)
    started_at = next(j for j in sim.jobs() if j["id"] == job["id"])["started_at"]
    assert time.time() - started_at >= sim.clock.real(150.0) * 0.9
    sim.cancel_job(job["id"])


async def test_delete_can_be_told_to_decide_on_the_assignment(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.runner.delete-busy: with delete_checks=assignment a DELETE is refused (422) on the
    assignment while busy still reads false."""
    sim = make_github_sim(busy_lag_s=(3600.0, 3600.0), delete_checks="assignment")
    org, jit, guest, job = await _running_job(sim, http_session, "vm-lagging")
    assert org.get_self_hosted_runner(jit.runner.id).busy is False

    with pytest.raises(GithubException) as caught:
        org.delete_self_hosted_runner(jit.runner.id)

    assert caught.value.status == 422
    assert "is currently running a job" in caught.value.data["message"]
    assert org.get_self_hosted_runner(jit.runner.id).status == "online"
    assert (await guest.status())["status"] == "busy"
    assert sim.stats()["runner_deletes_refused_busy"] == 1
    sim.cancel_job(job["id"])


async def test_a_delete_during_the_busy_lag_succeeds_by_default(
    make_github_sim: SimulatorFactory, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.runner.delete-busy: by default (#5228) a DELETE during the lag succeeds and the job
    runs on, unregistered."""
    sim = make_github_sim(busy_lag_s=(3600.0, 3600.0))
    org, jit, guest, job = await _running_job(sim, http_session, "vm-deleted-mid-job")

    org.delete_self_hosted_runner(jit.runner.id)

    with pytest.raises(UnknownObjectException):
        org.get_self_hosted_runner(jit.runner.id)
    assert next(j for j in sim.jobs() if j["id"] == job["id"])["status"] == "in_progress"
    assert (await guest.status())["status"] == "busy"
    sim.cancel_job(job["id"])
    await guest.wait_for_status("exited")


def test_jit_registrations_are_limited_to_180_a_minute_per_endpoint(
    make_github_sim: SimulatorFactory,
) -> None:
    """Rule github.rate-limit.points: 900 points a minute at 5 a POST admit 180 JIT configs, then 403."""
    sim = make_github_sim(time_scale=1.0)
    org = static_client(sim).get_organization("acme")
    for i in range(180):
        org.create_self_hosted_runner_jitconfig(f"vm-{i}", 1, ["a"])

    with pytest.raises(RateLimitExceededException) as caught:
        org.create_self_hosted_runner_jitconfig("vm-180", 1, ["a"])

    assert caught.value.status == 403
    assert caught.value.data["message"].startswith("You have exceeded a secondary rate limit")
    assert caught.value.headers is not None
    assert 1 <= int(caught.value.headers["retry-after"]) <= 60
    assert sim.stats()["secondary_points_limited"] == 1
    # Another endpoint (the repository's JIT route) has a window of its own.
    status, _ = _repo_jitconfig(sim, "acme/web", {"name": "vm-180", "runner_group_id": 1, "labels": ["a"]})
    assert status == 201
    assert jit_floor_s(181, sim.config) == 60.0


async def test_points_window_slides_and_can_answer_429(make_github_sim: SimulatorFactory) -> None:
    """Points age out of the (scaled) window; the refusal can be 429 like the other secondary limit."""
    sim = make_github_sim(points_limit=PointsLimit(points_per_window=10, window_s=5.0), rate_limit_status=429)
    body = {"runner_group_id": 1, "labels": ["a"]}
    assert [_repo_jitconfig(sim, "acme/web", {**body, "name": f"vm-{i}"})[0] for i in range(3)] == [
        201,
        201,
        429,
    ]

    def answered() -> int | None:
        status, _ = _repo_jitconfig(sim, "acme/web", {**body, "name": "vm-2"})
        return None if status == 429 else status

    assert await eventually(answered, within_s=10.0, poll_s=0.01, what="the points window sliding") == 201


def test_points_limit_can_guard_every_route(make_github_sim: SimulatorFactory) -> None:
    """With all_routes the points limit also counts GETs (1 point each) on other routes."""
    sim = make_github_sim(points_limit=PointsLimit(points_per_window=3, all_routes=True))
    org = static_client(sim).get_organization("acme")
    for _ in range(3):
        list(org.get_self_hosted_runners())
    with pytest.raises(RateLimitExceededException):
        list(org.get_self_hosted_runners())


def test_jit_floor_is_the_least_time_the_limits_allow() -> None:
    """jit_floor_s: 180 a minute bind first (1,500 take 480 s); without points 1,500 per 5 min bind."""
    config = GitHubSimConfig()
    assert [jit_floor_s(n, config) for n in (0, 1, 180, 181, 360, 361, 1500)] == [0, 0, 0, 60, 60, 120, 480]
    no_points = GitHubSimConfig(points_limit=PointsLimit(enabled=False))
    assert [jit_floor_s(n, no_points) for n in (1500, 1501, 3001)] == [0, 300, 600]
    both = GitHubSimConfig(points_limit=PointsLimit(points_per_window=50), registrations_per_window=15)
    # 10 a minute by points, 15 per 5 minutes by registrations: the 16th waits for minute 5.
    assert jit_floor_s(16, both) == 300.0
