"""App webhooks from the simulator: signatures, order, payloads, the delivery log and faults."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import aiohttp
import pytest

from simulator.github import GitHubSimulator, WebhookFaults
from simulator.github.testing import (
    HookReceiver,
    RunnerGuest,
    SimulatorFactory,
    app_integration,
    org_jit_config,
)
from simulator.testing import wait_until

pytest_plugins = ["github_fixtures"]
HOOK_SECRET = "it's a secret to everybody"


def _app_request(sim: GitHubSimulator, verb: str, path: str) -> Any:
    """A call authenticated as the App: GithubIntegration's requester signs a JWT per request."""
    _, data = app_integration(sim).requester.requestJsonAndCheck(verb, path)
    return data


async def test_job_lifecycle_webhooks_arrive_signed_and_in_order(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver, http_session: aiohttp.ClientSession
) -> None:
    """queued, in_progress and completed arrive in order with valid HMAC signatures and GitHub's headers."""
    hook_id = github_sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    job = github_sim.queue_job("acme", "web", ["self-hosted"])
    guest = RunnerGuest(http_session, org_jit_config(github_sim, "vm-1", ["self-hosted"]))
    await guest.connect()

    actions = await hook_receiver.wait_for_actions(job["id"], 3)

    assert actions == ["queued", "in_progress", "completed"]
    for hook in hook_receiver.for_job(job["id"]):
        assert hook.signature_valid(HOOK_SECRET)
        sha1 = "sha1=" + hmac.new(HOOK_SECRET.encode(), hook.body, hashlib.sha1).hexdigest()
        assert hook.headers["X-Hub-Signature"] == sha1
        assert hook.headers["X-GitHub-Event"] == "workflow_job"
        assert hook.headers["X-GitHub-Hook-ID"] == str(hook_id)
        assert hook.headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
        assert hook.headers["X-GitHub-Hook-Installation-Target-ID"] == str(github_sim.app_id)
        assert hook.headers["User-Agent"].startswith("GitHub-Hookshot/")
        assert hook.headers["Content-Type"] == "application/json"
    assert len({hook.guid for hook in hook_receiver.for_job(job["id"])}) == 3


async def test_workflow_job_payload_has_githubs_shape(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver, http_session: aiohttp.ClientSession
) -> None:
    """The payload carries workflow_job, repository, organization, sender and installation as documented."""
    github_sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    job = github_sim.queue_job("acme", "web", ["self-hosted", "linux"], name="unit")
    guest = RunnerGuest(http_session, org_jit_config(github_sim, "vm-1", ["self-hosted", "linux"]))
    await guest.connect()
    await hook_receiver.wait_for_actions(job["id"], 3)
    queued, in_progress, completed = (hook.payload for hook in hook_receiver.for_job(job["id"]))

    wj = queued["workflow_job"]
    assert (wj["id"], wj["run_id"], wj["name"], wj["status"]) == (job["id"], job["run_id"], "unit", "queued")
    assert wj["labels"] == ["self-hosted", "linux"]
    assert (wj["runner_id"], wj["runner_name"], wj["conclusion"], wj["completed_at"]) == (
        None,
        None,
        None,
        None,
    )
    assert wj["run_url"] == f"{github_sim.base_url}/repos/acme/web/actions/runs/{job['run_id']}"
    for key in (
        "node_id",
        "head_sha",
        "head_branch",
        "url",
        "html_url",
        "check_run_url",
        "created_at",
        "started_at",
        "workflow_name",
        "steps",
        "run_attempt",
        "runner_group_id",
        "runner_group_name",
    ):
        assert key in wj
    assert queued["repository"]["full_name"] == "acme/web"
    assert queued["repository"]["owner"]["login"] == "acme"
    assert queued["organization"]["login"] == "acme"
    assert queued["sender"]["type"] == "User"
    assert queued["installation"]["id"] == github_sim.config.installations["acme"]

    started = in_progress["workflow_job"]
    assert (started["status"], started["runner_name"], started["runner_id"]) == (
        "in_progress",
        "vm-1",
        guest.config.agent_id,
    )
    assert (started["runner_group_id"], started["runner_group_name"]) == (1, "Default")
    finished = completed["workflow_job"]
    assert (finished["status"], finished["conclusion"], finished["runner_name"]) == (
        "completed",
        "success",
        "vm-1",
    )
    assert finished["completed_at"] is not None
    assert [step["conclusion"] for step in finished["steps"]] == ["success", "success", "success"]


async def test_waiting_job_is_announced_as_queued_with_waiting_status(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver
) -> None:
    """A job awaiting approval sends action queued with status waiting, and approval sends nothing."""
    github_sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    job = github_sim.queue_job("acme", "web", ["self-hosted"], waiting=True)
    await hook_receiver.wait_for_actions(job["id"], 1)

    github_sim.approve_job(job["id"])
    github_sim.cancel_job(job["id"])

    await hook_receiver.wait_for_actions(job["id"], 2)
    first, second = hook_receiver.for_job(job["id"])
    assert (first.action, first.payload["workflow_job"]["status"]) == ("queued", "waiting")
    assert (second.action, second.payload["workflow_job"]["conclusion"]) == ("completed", "cancelled")


async def test_hosted_job_webhooks_name_the_hosted_runner(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver
) -> None:
    """in_progress and completed for a hosted job name the hosted runner and the GitHub Actions group."""
    github_sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    job = github_sim.queue_job("acme", "web", ["ubuntu-latest"], hosted_runner_name="GitHub Actions 2")

    assert await hook_receiver.wait_for_actions(job["id"], 3) == ["queued", "in_progress", "completed"]
    for hook in hook_receiver.for_job(job["id"])[1:]:
        wj = hook.payload["workflow_job"]
        assert (wj["runner_name"], wj["runner_group_name"]) == ("GitHub Actions 2", "GitHub Actions")


async def test_cancelled_queued_job_webhook_has_no_runner(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver
) -> None:
    """Cancelling a queued job sends completed/cancelled with null runner fields."""
    github_sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    job = github_sim.queue_job("acme", "web", ["self-hosted"])
    github_sim.cancel_job(job["id"])

    assert await hook_receiver.wait_for_actions(job["id"], 2) == ["queued", "completed"]
    wj = hook_receiver.for_job(job["id"])[1].payload["workflow_job"]
    assert (wj["conclusion"], wj["runner_id"], wj["runner_name"], wj["runner_group_id"]) == (
        "cancelled",
        None,
        None,
        None,
    )


async def test_deliveries_are_listed_and_redelivered_with_the_same_guid(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver
) -> None:
    """The App's delivery log lists attempts; a redelivery resends the same payload and guid."""
    github_sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    job = github_sim.queue_job("acme", "web", ["self-hosted"])
    await hook_receiver.wait_for_actions(job["id"], 1)
    await wait_until(lambda: len(github_sim.deliveries()) == 1)

    listed = _app_request(github_sim, "GET", "/app/hook/deliveries")

    assert len(listed) == 1
    summary = listed[0]
    assert summary["guid"] == hook_receiver.received[0].guid
    assert (summary["event"], summary["action"], summary["status_code"], summary["redelivery"]) == (
        "workflow_job",
        "queued",
        200,
        False,
    )
    assert summary["installation_id"] == github_sim.config.installations["acme"]
    assert summary["repository_id"] == 700001
    detail = _app_request(github_sim, "GET", f"/app/hook/deliveries/{summary['id']}")
    assert detail["request"]["payload"]["workflow_job"]["id"] == job["id"]
    assert detail["request"]["headers"]["X-GitHub-Delivery"] == summary["guid"]
    assert detail["url"] == hook_receiver.url

    _app_request(github_sim, "POST", f"/app/hook/deliveries/{summary['id']}/attempts")

    await hook_receiver.wait_for(lambda received: len(received) == 2)
    original, again = hook_receiver.received
    assert again.guid == original.guid
    assert again.body == original.body
    assert again.signature_valid(HOOK_SECRET)
    await wait_until(lambda: len(github_sim.deliveries()) == 2)
    relisted = _app_request(github_sim, "GET", "/app/hook/deliveries")
    assert [(d["guid"], d["redelivery"]) for d in relisted] == [(original.guid, True), (original.guid, False)]


async def test_delivery_log_is_paginated_by_cursor(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver
) -> None:
    """per_page and cursor walk the delivery log newest first."""
    github_sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    for _ in range(3):
        github_sim.queue_job("acme", "web", ["self-hosted"])
    await wait_until(lambda: len(github_sim.deliveries()) == 3)

    first = _app_request(github_sim, "GET", "/app/hook/deliveries?per_page=2")
    rest = _app_request(github_sim, "GET", f"/app/hook/deliveries?per_page=2&cursor={first[-1]['id']}")

    ids = [d["id"] for d in first + rest]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 3


async def test_failed_deliveries_are_recorded_and_not_retried(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver
) -> None:
    """A 500 from the receiver is logged as a failed delivery and never sent again by itself."""
    hook_receiver.status = 500
    github_sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    github_sim.queue_job("acme", "web", ["self-hosted"])
    await wait_until(lambda: len(github_sim.deliveries()) == 1)
    await hook_receiver.wait_for(lambda received: len(received) == 1)

    failed = _app_request(github_sim, "GET", "/app/hook/deliveries?status=failure")

    assert [(d["status_code"], d["status"]) for d in failed] == [(500, "Invalid HTTP Response: 500")]
    # The positive sign: a later event's delivery has been made and answered.
    later = github_sim.queue_job("acme", "api", ["self-hosted"])
    await hook_receiver.wait_for(lambda received: len(received) == 2)
    first_job = [d for d in github_sim.deliveries() if d["job_id"] != later["id"]]
    assert len(first_job) == 1


async def test_unreachable_receiver_is_recorded_as_a_failed_attempt(github_sim: GitHubSimulator) -> None:
    """A hook URL nobody listens on yields a delivery with status code 0 and an error."""
    github_sim.add_webhook("http://127.0.0.1:9/nowhere", HOOK_SECRET)
    github_sim.queue_job("acme", "web", ["self-hosted"])

    await wait_until(lambda: len(github_sim.deliveries()) == 1)

    delivery = github_sim.deliveries()[0]
    assert (delivery["status_code"], delivery["status"]) == (0, "failed to connect to host")
    assert delivery["error"]


async def test_dropped_deliveries_never_arrive(
    make_github_sim: SimulatorFactory, hook_receiver: HookReceiver
) -> None:
    """With drop probability 1 nothing reaches the receiver and each attempt is logged as failed."""
    sim = make_github_sim(faults=WebhookFaults(drop_probability=1.0))
    sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    sim.queue_job("acme", "web", ["self-hosted"])

    await wait_until(lambda: len(sim.deliveries()) == 1)

    assert hook_receiver.received == []
    assert sim.deliveries()[0]["fault"] == "drop"
    assert sim.deliveries()[0]["status_code"] == 0
    assert sim.stats()["webhooks_dropped"] == 1


async def test_duplicated_deliveries_reuse_the_guid(
    make_github_sim: SimulatorFactory, hook_receiver: HookReceiver
) -> None:
    """With duplicate probability 1 every delivery arrives twice with the same delivery guid."""
    sim = make_github_sim()
    sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    sim.set_faults(WebhookFaults(duplicate_probability=1.0))
    job = sim.queue_job("acme", "web", ["self-hosted"])

    await hook_receiver.wait_for_actions(job["id"], 2)

    first, second = hook_receiver.for_job(job["id"])
    assert first.guid == second.guid
    assert first.body == second.body


@pytest.mark.parametrize(
    ("max_hold_s", "successor", "actions"),
    [
        pytest.param(1000.0, True, ["completed", "queued"], id="right-after-the-next-delivery"),
        pytest.param(5.0, False, ["queued"], id="after-the-maximum-hold-without-a-successor"),
    ],
)
async def test_held_delivery_goes_out_after_the_next_one_or_the_maximum_hold(
    make_github_sim: SimulatorFactory,
    hook_receiver: HookReceiver,
    max_hold_s: float,
    successor: bool,
    actions: list[str],
) -> None:
    """A held (reordered) delivery is sent right after the hook's next one, else after the maximum hold."""
    sim = make_github_sim(faults=WebhookFaults(reorder_probability=1.0, reorder_max_hold_s=max_hold_s))
    sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    job = sim.queue_job("acme", "web", ["self-hosted"])
    if successor:
        sim.cancel_job(job["id"])

    assert await hook_receiver.wait_for_actions(job["id"], len(actions)) == actions
    assert sim.stats()["webhooks_reordered"] == 1


async def test_extra_latency_delays_deliveries(
    make_github_sim: SimulatorFactory, hook_receiver: HookReceiver
) -> None:
    """Extra latency (simulated seconds, scaled) holds each delivery back at least that long."""
    sim = make_github_sim(faults=WebhookFaults(extra_latency_s=20.0))
    sim.add_webhook(hook_receiver.url, HOOK_SECRET)
    loop = asyncio.get_running_loop()
    started = loop.time()
    job = sim.queue_job("acme", "web", ["self-hosted"])

    await hook_receiver.wait_for_actions(job["id"], 1)

    assert loop.time() - started >= sim.clock.real(20.0)


async def test_ping_reaches_every_hook(github_sim: GitHubSimulator, hook_receiver: HookReceiver) -> None:
    """send_ping posts a signed ping event naming the hook."""
    hook_id = github_sim.add_webhook(hook_receiver.url, HOOK_SECRET)

    github_sim.send_ping()

    await hook_receiver.wait_for(lambda received: len(received) == 1)
    ping = hook_receiver.received[0]
    assert ping.event == "ping"
    assert ping.payload["hook_id"] == hook_id
    assert ping.signature_valid(HOOK_SECRET)


async def test_hooks_only_get_subscribed_events(
    github_sim: GitHubSimulator, hook_receiver: HookReceiver
) -> None:
    """A hook subscribed to other events does not receive workflow_job."""
    github_sim.add_webhook(hook_receiver.url, HOOK_SECRET, events=("check_run",))
    github_sim.queue_job("acme", "web", ["self-hosted"])
    github_sim.send_ping()

    # The ping's delivery is logged once answered; the job, queued before it, would be logged first.
    await wait_until(lambda: len(github_sim.deliveries()) == 1)
    assert [d["event"] for d in github_sim.deliveries()] == ["ping"]
    assert [hook.event for hook in hook_receiver.received] == ["ping"]
