"""Job Hooks: what arrives, in which order, with which headers and signatures, and how faults and
GitLab's automatic disabling of failing hooks change that."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import gitlab
import pytest
from gitlab.v4.objects import CurrentUserRunnerManager

from simulator.gitlab import GitLabSimulator, WebhookFaults
from simulator.gitlab.testing import HookReceiver, RunnerClient, SimulatorFactory
from simulator.testing import wait_until

pytest_plugins = ["gitlab_fixtures"]


def _user_runners(gl: gitlab.Gitlab) -> CurrentUserRunnerManager:
    assert gl.user is not None, "gl.auth() sets the current user"
    return gl.user.runners


HOOK_TOKEN = "hook-shared-secret"
Hooked = Callable[..., tuple[GitLabSimulator, int]]


@pytest.fixture
def hooked(make_gitlab_sim: SimulatorFactory, gitlab_hook_receiver: HookReceiver) -> Hooked:
    """A simulator (config overrides) whose project 1001 sends its Job Hooks to the receiver, and the
    hook's id."""

    def make(**overrides: Any) -> tuple[GitLabSimulator, int]:
        sim = make_gitlab_sim(**overrides)
        return sim, sim.add_webhook(gitlab_hook_receiver.url, HOOK_TOKEN, scope=("project", 1001))

    return make


HOOK_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SIGNATURE_TOLERANCE_S = 300


def verify_standard_webhook(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Standard Webhooks verification, written from the specification rather than the simulator."""
    # A `whsec_` secret is the base64 of the key; any other secret is the key's UTF-8 bytes.
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE_S:
        return False
    content = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    candidates = [s.split(",", 1) for s in headers["webhook-signature"].split(" ")]
    return any(version == "v1" and hmac.compare_digest(sig, expected) for version, sig in candidates)


async def _run_one_job(sim: GitLabSimulator, gl: gitlab.Gitlab, http: aiohttp.ClientSession) -> int:
    """Register a runner, create a job it takes, and let the job run to success."""
    created = await asyncio.to_thread(
        _user_runners(gl).create,
        {"runner_type": "project_type", "project_id": 1001, "tag_list": ["deploy"], "run_untagged": False},
    )
    job = sim.create_job(1001, ["deploy"])
    runner = RunnerClient(http, sim.base_url, str(created.token))
    await runner.wait_until_job_ends(await runner.wait_for_job())
    return int(job["id"])


async def test_job_hooks_arrive_in_order_with_gitlab_headers(
    gl: gitlab.Gitlab,
    gitlab_sim: GitLabSimulator,
    gitlab_hook_receiver: HookReceiver,
    http_session: aiohttp.ClientSession,
) -> None:
    """A job's hooks arrive created -> pending -> running -> success with token, UUIDs and Idempotency-Key."""
    hook_id = gitlab_sim.add_webhook(gitlab_hook_receiver.url, HOOK_TOKEN, scope=("project", 1001))

    job_id = await _run_one_job(gitlab_sim, gl, http_session)

    statuses = await gitlab_hook_receiver.wait_for_statuses(job_id, 4)
    assert statuses == ["created", "pending", "running", "success"]
    hooks = gitlab_hook_receiver.for_job(job_id)
    webhook_uuid = next(h["uuid"] for h in gitlab_sim.hooks() if h["id"] == hook_id)
    for hook in hooks:
        assert hook.event == "Job Hook"
        assert hook.headers["X-Gitlab-Token"] == HOOK_TOKEN
        assert hook.headers["X-Gitlab-Instance"] == gitlab_sim.base_url
        assert hook.headers["X-Gitlab-Webhook-UUID"] == webhook_uuid
        assert hook.headers["User-Agent"].startswith("GitLab/17.")
        assert hook.headers["Content-Type"] == "application/json"
        assert "webhook-signature" not in hook.headers
        uuid.UUID(hook.event_uuid)
        uuid.UUID(hook.idempotency_key)
    assert len({h.event_uuid for h in hooks}) == len({h.idempotency_key for h in hooks}) == 4


async def test_job_hook_payload_has_no_tag_list_and_no_runner_until_running(
    gl: gitlab.Gitlab,
    gitlab_sim: GitLabSimulator,
    gitlab_hook_receiver: HookReceiver,
    http_session: aiohttp.ClientSession,
) -> None:
    """Payloads are object_kind build; runner is null while created/pending, then has the runner's tags."""
    gitlab_sim.add_webhook(gitlab_hook_receiver.url, HOOK_TOKEN, scope=("group", 100))

    job_id = await _run_one_job(gitlab_sim, gl, http_session)

    await gitlab_hook_receiver.wait_for_statuses(job_id, 4)
    created, pending, running, success = (h.payload for h in gitlab_hook_receiver.for_job(job_id))
    for payload in (created, pending, running, success):
        assert payload["object_kind"] == "build"
        assert payload["build_id"] == job_id
        assert payload["project_id"] == 1001
        assert payload["project"]["path_with_namespace"] == "acme/web"
        assert payload["repository"]["homepage"] == f"{gitlab_sim.base_url}/acme/web"
        assert payload["user"]["username"] == "deployer"
        assert payload["environment"] is None
        assert "source_pipeline" not in payload
        assert "tag_list" not in payload
        assert HOOK_TIME.match(payload["build_created_at"])
        assert ISO_TIME.match(payload["build_created_at_iso"])
    assert created["runner"] is None and pending["runner"] is None
    assert running["runner"]["tags"] == ["deploy"]
    assert running["runner"]["runner_type"] == "project_type"
    assert success["runner"]["id"] == running["runner"]["id"]
    assert HOOK_TIME.match(success["build_finished_at"]) and ISO_TIME.match(success["build_finished_at_iso"])
    assert success["build_duration"] >= 0 and success["commit"]["status"] == "success"
    assert pending["build_started_at"] is None and running["build_finished_at"] is None


async def test_hook_scope_decides_which_projects_it_hears_about(
    gitlab_sim: GitLabSimulator, gitlab_hook_receiver: HookReceiver
) -> None:
    """A group hook hears about its subgroups' projects; a project hook only about its project."""
    gitlab_sim.add_webhook(gitlab_hook_receiver.url, HOOK_TOKEN, scope=("group", "acme"))
    async with HookReceiver() as other:
        gitlab_sim.add_webhook(other.url, HOOK_TOKEN, scope=("project", "acme/api"))

        job = gitlab_sim.create_job(1003, ["deploy"])
        api_job = gitlab_sim.create_job(1002, ["deploy"])

        assert await gitlab_hook_receiver.wait_for_statuses(job["id"], 2) == ["created", "pending"]
        await gitlab_hook_receiver.wait_for_statuses(api_job["id"], 2)
        assert await other.wait_for_statuses(api_job["id"], 2) == ["created", "pending"]
        assert other.for_job(job["id"]) == []


async def test_source_pipeline_and_environment_appear_when_present(
    gitlab_sim: GitLabSimulator, gitlab_hook_receiver: HookReceiver
) -> None:
    """A downstream job's payload names its source pipeline; a deploying job names its environment."""
    gitlab_sim.add_webhook(gitlab_hook_receiver.url, HOOK_TOKEN, scope=("project", 1001))

    job = gitlab_sim.create_job(1001, ["deploy"], source_pipeline=True, environment="production")

    await gitlab_hook_receiver.wait_for_statuses(job["id"], 1)
    payload = gitlab_hook_receiver.for_job(job["id"])[0].payload
    source = payload["source_pipeline"]
    assert source["project"]["path_with_namespace"] == "acme/api"
    assert source["project"]["web_url"] == f"{gitlab_sim.base_url}/acme/api"
    assert isinstance(source["pipeline_id"], int) and isinstance(source["job_id"], int)
    assert payload["environment"] == {
        "name": "production",
        "action": "start",
        "deployment_tier": "production",
    }


async def test_cancelling_a_pending_job_announces_canceled(
    hooked: Hooked, gitlab_hook_receiver: HookReceiver
) -> None:
    """Cancelling a pending job sends created, pending, then canceled."""
    sim, _ = hooked()  # the default hour of pending time: the job cannot turn stuck before the cancel
    cancelled = sim.create_job(1001, ["deploy"])

    sim.cancel_job(cancelled["id"])

    assert await gitlab_hook_receiver.wait_for_statuses(cancelled["id"], 3) == [
        "created",
        "pending",
        "canceled",
    ]


async def test_a_stuck_job_announces_failed_with_stuck_or_timeout_failure(
    hooked: Hooked, gitlab_hook_receiver: HookReceiver
) -> None:
    """A job no runner takes within the pending timeout sends failed with stuck_or_timeout_failure."""
    sim, _ = hooked(pending_timeout_s=20.0)
    stuck = sim.create_job(1001, ["nobody"])

    assert await gitlab_hook_receiver.wait_for_statuses(stuck["id"], 3) == ["created", "pending", "failed"]
    last = gitlab_hook_receiver.for_job(stuck["id"])[-1].payload
    assert last["build_failure_reason"] == "stuck_or_timeout_failure"
    assert last["runner"] is None


async def test_signed_hooks_verify_as_standard_webhooks(
    gitlab_sim: GitLabSimulator, gitlab_hook_receiver: HookReceiver
) -> None:
    """With a signing token, webhook-id/-timestamp/-signature verify; a whsec_ token is a base64 key."""
    whsec = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    gitlab_sim.add_webhook(gitlab_hook_receiver.url, HOOK_TOKEN, signing_token=whsec, scope=("project", 1001))
    async with HookReceiver() as plain_receiver:
        gitlab_sim.add_webhook(
            plain_receiver.url, HOOK_TOKEN, signing_token="plain-signing-key", scope=("project", 1001)
        )

        job = gitlab_sim.create_job(1001, ["deploy"])

        await gitlab_hook_receiver.wait_for_statuses(job["id"], 2)
        await plain_receiver.wait_for_statuses(job["id"], 2)
        for secret, receiver in ((whsec, gitlab_hook_receiver), ("plain-signing-key", plain_receiver)):
            for hook in receiver.for_job(job["id"]):
                assert hook.headers["webhook-signature"].startswith("v1,")
                assert verify_standard_webhook(secret, hook.headers, hook.body)
                assert not verify_standard_webhook(secret, hook.headers, hook.body + b" ")
                assert hook.headers["webhook-id"] == hook.idempotency_key
        signed_with_whsec = gitlab_hook_receiver.for_job(job["id"])[0]
        assert not verify_standard_webhook(
            "plain-signing-key", signed_with_whsec.headers, signed_with_whsec.body
        )


async def test_dropped_deliveries_never_arrive_but_are_recorded(
    hooked: Hooked, gitlab_hook_receiver: HookReceiver
) -> None:
    """With drop probability 1 nothing arrives; each attempt is recorded as failed with fault "drop"."""
    sim, _ = hooked(faults=WebhookFaults(drop_probability=1.0))

    job = sim.create_job(1001, ["deploy"])

    # Both attempts are recorded, as dropped: nothing was sent, so nothing can still arrive.
    await wait_until(lambda: len(sim.deliveries()) == 2)
    assert gitlab_hook_receiver.received == []
    deliveries = sim.deliveries()
    assert {(d["fault"], d["status_code"], d["job_id"]) for d in deliveries} == {("drop", 0, job["id"])}
    assert sim.stats()["webhooks_dropped"] == 2


async def test_duplicated_deliveries_repeat_the_idempotency_key(
    hooked: Hooked, gitlab_hook_receiver: HookReceiver
) -> None:
    """A duplicated delivery arrives twice with the same Idempotency-Key and event UUID."""
    sim, _ = hooked(faults=WebhookFaults(duplicate_probability=1.0))

    job = sim.create_job(1001, ["deploy"])

    statuses = await gitlab_hook_receiver.wait_for_statuses(job["id"], 4)
    assert statuses == ["created", "created", "pending", "pending"]
    hooks = gitlab_hook_receiver.for_job(job["id"])
    assert hooks[0].idempotency_key == hooks[1].idempotency_key != hooks[2].idempotency_key
    assert hooks[0].event_uuid == hooks[1].event_uuid
    assert hooks[0].body == hooks[1].body
    assert sim.stats()["webhooks_duplicated"] == 2


async def test_reordered_deliveries_swap_places(hooked: Hooked, gitlab_hook_receiver: HookReceiver) -> None:
    """With reorder probability 1 a held delivery goes out after the next one: pending before created."""
    sim, _ = hooked(faults=WebhookFaults(reorder_probability=1.0))

    job = sim.create_job(1001, ["deploy"])

    assert await gitlab_hook_receiver.wait_for_statuses(job["id"], 2) == ["pending", "created"]
    sim.set_faults(reorder_probability=0.0)
    assert sim.faults().reorder_probability == 0.0


async def test_hook_is_disabled_after_repeated_failures(
    hooked: Hooked, gitlab_hook_receiver: HookReceiver
) -> None:
    """After 4 consecutive 5xx answers the hook is temporarily disabled and later events are not sent."""
    sim, hook_id = hooked(hook_backoff_s=3600.0)
    gitlab_hook_receiver.status = 500

    for _ in range(2):
        sim.create_job(1001, ["deploy"])
    await wait_until(lambda: len(sim.deliveries()) == 4)

    later = sim.create_job(1001, ["deploy"])

    await wait_until(lambda: sim.stats()["webhooks_skipped_disabled"] == 2)
    assert len(gitlab_hook_receiver.received) == 4
    assert {d["status_code"] for d in sim.deliveries()} == {500}
    hook = next(h for h in sim.hooks() if h["id"] == hook_id)
    assert (hook["alert_status"], hook["recent_failures"]) == ("temporarily_disabled", 4)
    assert gitlab_hook_receiver.for_job(later["id"]) == []

    gitlab_hook_receiver.status = 200
    sim.enable_hook(hook_id)
    sim.cancel_job(later["id"])

    assert await gitlab_hook_receiver.wait_for_statuses(later["id"], 1) == ["canceled"]
    assert next(h for h in sim.hooks() if h["id"] == hook_id)["alert_status"] == "executable"


async def test_disabled_hook_retries_after_backoff_and_doubles_it(
    hooked: Hooked, gitlab_hook_receiver: HookReceiver
) -> None:
    """Once the backoff has passed one delivery is tried; failing again disables it for twice as long."""
    sim, hook_id = hooked(hook_backoff_s=10.0)
    gitlab_hook_receiver.status = 503
    sim.create_job(1001, ["deploy"])
    sim.create_job(1001, ["deploy"])
    await wait_until(lambda: len(sim.deliveries()) == 4)
    first = next(h for h in sim.hooks() if h["id"] == hook_id)
    await wait_until(lambda: time.time() > first["disabled_until"], within_s=10)

    sim.create_job(1001, ["deploy"])

    await wait_until(lambda: sim.stats()["webhooks_skipped_disabled"] == 1)
    again = next(h for h in sim.hooks() if h["id"] == hook_id)
    assert len(gitlab_hook_receiver.received) == 5
    assert (again["alert_status"], again["backoff_count"]) == ("temporarily_disabled", 2)
    assert sim.stats()["hooks_disabled"] == 2


async def test_redelivery_keeps_the_idempotency_key(
    gitlab_sim: GitLabSimulator, gitlab_hook_receiver: HookReceiver
) -> None:
    """Resending a recorded delivery repeats its event UUID and Idempotency-Key; the token is redacted."""
    gitlab_sim.add_webhook(gitlab_hook_receiver.url, HOOK_TOKEN, scope=("project", 1001))
    job = gitlab_sim.create_job(1001, ["deploy"])
    await wait_until(lambda: len(gitlab_sim.deliveries()) == 2)
    original = gitlab_sim.deliveries()[0]

    gitlab_sim.redeliver(original["id"])

    await gitlab_hook_receiver.wait_for_statuses(job["id"], 3)
    resent = gitlab_hook_receiver.for_job(job["id"])[-1]
    assert resent.idempotency_key == original["idempotency_key"]
    assert resent.event_uuid == original["event_uuid"]
    await wait_until(lambda: any(d["redelivery"] for d in gitlab_sim.deliveries()))
    assert original["request_headers"]["X-Gitlab-Token"] == "[REDACTED]"
