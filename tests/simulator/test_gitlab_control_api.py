"""The control API other processes drive the GitLab simulator with, and the runner protocol's edges."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from simulator.gitlab import GitLabSimulator
from simulator.gitlab.testing import HookReceiver, RunnerClient
from simulator.testing import wait_until

pytest_plugins = ["gitlab_fixtures"]
JsonCall = Callable[..., Awaitable[tuple[int, Any]]]


async def test_control_api_creates_hooks_and_jobs_and_reports_them(
    gitlab_sim: GitLabSimulator, gitlab_hook_receiver: HookReceiver, call_json: JsonCall
) -> None:
    """POST /_sim/hooks and /_sim/jobs start a job whose hooks arrive; GET views list jobs and deliveries."""
    base = gitlab_sim.base_url
    status, hook = await call_json(
        "POST",
        f"{base}/_sim/hooks",
        {"url": gitlab_hook_receiver.url, "token": "t", "scope": {"type": "group", "id": "acme"}},
    )
    assert (status, hook["scope"], hook["alert_status"]) == (201, {"type": "group", "id": 100}, "executable")

    status, job = await call_json(
        "POST",
        f"{base}/_sim/jobs",
        {"project_id": "acme/api", "tags": ["deploy"], "duration_s": 5},
    )
    assert (status, job["status"], job["project_id"], job["tag_list"]) == (201, "pending", 1002, ["deploy"])
    assert await gitlab_hook_receiver.wait_for_statuses(job["id"], 2) == ["created", "pending"]

    status, cancelled = await call_json("POST", f"{base}/_sim/jobs/{job['id']}/cancel")
    assert (status, cancelled["status"]) == (200, "canceled")
    assert (await call_json("POST", f"{base}/_sim/jobs/{job['id']}/cancel"))[0] == 409
    _, jobs = await call_json("GET", f"{base}/_sim/jobs")
    assert [j["status"] for j in jobs] == ["canceled"]
    await wait_until(lambda: len(gitlab_sim.deliveries()) == 3)
    _, deliveries = await call_json("GET", f"{base}/_sim/deliveries")
    assert [d["build_status"] for d in deliveries] == ["created", "pending", "canceled"]
    _, stats = await call_json("GET", f"{base}/_sim/stats")
    assert (stats["jobs_created"], stats["jobs_canceled"], stats["webhook_attempts"]) == (1, 1, 3)


async def test_control_api_validates_its_input(gitlab_sim: GitLabSimulator, call_json: JsonCall) -> None:
    """Bad hook scopes, job bodies and fault settings are rejected; unknown projects are 404."""
    base = gitlab_sim.base_url
    bad_scope = {"url": "http://127.0.0.1:9/x", "scope": {"type": "instance", "id": 1}}
    assert (await call_json("POST", f"{base}/_sim/hooks", bad_scope))[0] == 422
    assert (await call_json("POST", f"{base}/_sim/jobs", {"project_id": 1001, "tags": "x"}))[0] == 422
    status, body = await call_json("POST", f"{base}/_sim/jobs", {"project_id": 4242, "tags": []})
    assert (status, body) == (404, {"message": "404 Project Not Found"})
    assert (await call_json("POST", f"{base}/_sim/faults", {"drop_probability": 2}))[0] == 422
    assert (await call_json("POST", f"{base}/_sim/faults", {"loss": 0.5}))[0] == 422
    status, faults = await call_json("POST", f"{base}/_sim/faults", {"duplicate_probability": 0.5})
    assert (status, faults["duplicate_probability"]) == (200, 0.5)
    assert gitlab_sim.faults().duplicate_probability == 0.5


async def test_control_api_lists_runners_without_their_tokens(
    gitlab_sim: GitLabSimulator, http_session: aiohttp.ClientSession, call_json: JsonCall
) -> None:
    """GET /_sim/runners shows each registration with its contact and jobs taken; never its token."""
    status, created = await call_json(
        "POST",
        f"{gitlab_sim.api_url}/user/runners?private_token={gitlab_sim.token}",
        {"runner_type": "project_type", "project_id": 1001, "tag_list": "deploy", "run_untagged": False},
    )
    assert status == 201
    assert await RunnerClient(http_session, gitlab_sim.base_url, created["token"]).verify() == 200

    _, runners = await call_json("GET", f"{gitlab_sim.base_url}/_sim/runners")

    assert len(runners) == 1
    listed = runners[0]
    assert (listed["id"], listed["status"], listed["jobs_taken"]) == (created["id"], "online", 0)
    assert created["token"] not in str(runners)
