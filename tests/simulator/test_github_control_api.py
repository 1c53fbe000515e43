"""The simulator's HTTP control API for other processes, and GitHub-style error rendering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from simulator.github import GitHubSimulator
from simulator.github.testing import HookReceiver, RunnerGuest, org_jit_config
from simulator.testing import wait_until

pytest_plugins = ["github_fixtures"]
HOOK_SECRET = "it's a secret to everybody"
JsonCall = Callable[..., Awaitable[tuple[int, Any]]]


async def test_jobs_are_queued_cancelled_and_listed_over_http(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver, call_json: JsonCall
) -> None:
    """POST /_sim/hooks and /_sim/jobs drive the simulator; GET lists jobs and deliveries."""
    base = github_sim.base_url
    status, hook = await call_json(
        "POST", f"{base}/_sim/hooks", {"url": hook_receiver.url, "secret": HOOK_SECRET}
    )
    assert status == 201
    status, job = await call_json(
        "POST",
        f"{base}/_sim/jobs",
        {"owner": "acme", "repo": "web", "labels": ["self-hosted"], "duration_s": 5, "name": "lint"},
    )
    assert status == 201
    assert (job["status"], job["name"], job["duration_s"]) == ("queued", "lint", 5.0)

    status, cancelled = await call_json("POST", f"{base}/_sim/jobs/{job['id']}/cancel")

    assert (status, cancelled["conclusion"]) == (200, "cancelled")
    _, jobs = await call_json("GET", f"{base}/_sim/jobs")
    assert [j["id"] for j in jobs] == [job["id"]]
    await hook_receiver.wait_for_actions(job["id"], 2)
    await wait_until(lambda: len(github_sim.deliveries()) == 2)
    _, deliveries = await call_json("GET", f"{base}/_sim/deliveries")
    assert [(d["action"], d["hook_id"]) for d in deliveries] == [
        ("queued", hook["id"]),
        ("completed", hook["id"]),
    ]


async def test_waiting_job_is_approved_over_http(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession, call_json: JsonCall
) -> None:
    """POST /_sim/jobs/{id}/approve releases a waiting job to a runner listed by GET /_sim/runners."""
    base = github_sim.base_url
    _, job = await call_json(
        "POST",
        f"{base}/_sim/jobs",
        {"owner": "acme", "repo": "web", "labels": ["self-hosted"], "waiting": True, "duration_s": 3600},
    )
    guest = RunnerGuest(http_session, org_jit_config(github_sim, "vm-1", ["self-hosted"]))
    await guest.connect()

    status, approved = await call_json("POST", f"{base}/_sim/jobs/{job['id']}/approve")

    assert (status, approved["status"]) == (200, "queued")
    await guest.wait_for_status("busy")
    _, runners = await call_json("GET", f"{base}/_sim/runners")
    assert [(r["name"], r["busy"], r["job_id"]) for r in runners] == [("vm-1", True, job["id"])]
    github_sim.cancel_job(job["id"])


async def test_faults_and_stats_over_http(github_sim: GitHubSimulator, call_json: JsonCall) -> None:
    """POST /_sim/faults changes the fault settings; bad values get 422; GET /_sim/stats counts."""
    base = github_sim.base_url
    status, faults = await call_json("POST", f"{base}/_sim/faults", {"drop_probability": 0.5})
    assert (status, faults["drop_probability"], faults["duplicate_probability"]) == (200, 0.5, 0.0)
    assert github_sim.faults().drop_probability == 0.5
    assert (await call_json("POST", f"{base}/_sim/faults", {"drop_probability": 2}))[0] == 422
    assert (await call_json("POST", f"{base}/_sim/faults", {"bogus": 1}))[0] == 422

    org_jit_config(github_sim, "vm-1", ["self-hosted"])
    _, stats = await call_json("GET", f"{base}/_sim/stats")
    assert stats["jit_configs_issued"] == 1
    assert stats["installation_tokens_issued"] == 0


async def test_bad_control_requests_get_json_errors(github_sim: GitHubSimulator, call_json: JsonCall) -> None:
    """Unknown jobs get 404 and malformed bodies 422, as JSON with a message."""
    base = github_sim.base_url
    status, body = await call_json("POST", f"{base}/_sim/jobs/123/cancel")
    assert (status, body["message"]) == (404, "Not Found")
    status, body = await call_json("POST", f"{base}/_sim/jobs", {"owner": "acme", "repo": "web"})
    assert status == 422
    status, body = await call_json("POST", f"{base}/_sim/hooks", {"secret": "x"})
    assert status == 422


async def test_unknown_routes_answer_like_github(
    github_sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Unknown paths get GitHub's JSON 404 with a request id; unauthenticated calls get 401."""
    async with http_session.get(f"{github_sim.base_url}/no/such/path") as response:
        assert response.status == 404
        assert (await response.json())["message"] == "Not Found"
        assert response.headers["X-GitHub-Request-Id"]
    async with http_session.get(f"{github_sim.base_url}/orgs/acme") as response:
        assert response.status == 401


async def test_stopped_simulator_refuses_requests(github_sim: GitHubSimulator, call_json: JsonCall) -> None:
    """After stop() the simulator answers 503 and schedules nothing."""
    github_sim.stop()
    status, body = await call_json("GET", f"{github_sim.base_url}/_sim/jobs")
    assert status == 503
    assert "stopped" in body["message"]
