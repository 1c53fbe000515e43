import json
import time
import uuid
from typing import Any

import pytest

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import DeregisterRequest, ReleaseRequest, parse_provision, parse_release
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE
from runner_fleet.signatures import standard_webhooks_signature
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.accept_gitlab_webhook import GitLabIntake
from tests.builders import make_pool
from tests.unit.test_gitlab_events import gitlab_event

TOKEN = "gitlab-hook-token-42"
GROUP_POOL = make_pool("gl-aks", ("aks-prod",), forge="gitlab", github=None, gitlab={"group_id": 7})


def _hook(
    name: str, *, token: str = TOKEN, key: str | None = None, kind: str = "Job Hook"
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(gitlab_event(name)).encode()
    headers = {
        "X-Gitlab-Event": kind,
        "X-Gitlab-Token": token,
        "Idempotency-Key": key or str(uuid.uuid4()),
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    return headers, body


@pytest.fixture
def queue() -> MemoryWorkQueue:
    return MemoryWorkQueue()


@pytest.fixture
def state() -> FleetState:
    return FleetState(MemoryStateTable())


@pytest.fixture
def intake(queue: MemoryWorkQueue, state: FleetState) -> GitLabIntake:
    return GitLabIntake(TOKEN.encode(), (GROUP_POOL,), queue, state)


async def _bodies(queue: MemoryWorkQueue, name: str) -> list[str]:
    return [m.body for m in await queue.receive(name, max_messages=32, visibility_timeout_s=60)]


async def _finished_without_runner(intake: GitLabIntake, queue: MemoryWorkQueue) -> ReleaseRequest:
    """A `success` hook with `runner: null` is accepted for the release queue; the one message it made."""
    payload = gitlab_event("job_hook.success.json") | {"runner": None}
    headers, _ = _hook("job_hook.success.json")
    outcome = await intake.handle(headers, json.dumps(payload).encode())
    assert (outcome.status, outcome.queued) == (202, RELEASE_QUEUE)
    [body] = await _bodies(queue, RELEASE_QUEUE)
    request = parse_release(body)
    assert isinstance(request, ReleaseRequest)
    return request


async def test_pending_job_is_enqueued_for_pool_resolution(
    intake: GitLabIntake, queue: MemoryWorkQueue
) -> None:
    """A pending job answers 202 and enqueues a provision request whose pool is chosen from the job's tags."""
    outcome = await intake.handle(*_hook("job_hook.pending.json"))
    assert (outcome.status, outcome.queued) == (202, PROVISION_QUEUE)
    [body] = await _bodies(queue, PROVISION_QUEUE)
    request = parse_provision(body)
    assert (request.forge, request.pool, request.job_id, request.project_id) == ("gitlab", "", 1977, 380)
    assert request.repository == "platform/platform-deploy"


async def test_created_jobs_are_acknowledged_only(intake: GitLabIntake, queue: MemoryWorkQueue) -> None:
    """`created` answers 2xx and enqueues nothing."""
    outcome = await intake.handle(*_hook("job_hook.created.json"))
    assert outcome.status == 200
    assert await queue.depth(PROVISION_QUEUE) == 0


async def test_running_binds_the_job_and_deregisters_our_runner(
    intake: GitLabIntake, state: FleetState, queue: MemoryWorkQueue
) -> None:
    """`running` on our runner binds the job to it and enqueues the deletion of its registration."""
    outcome = await intake.handle(*_hook("job_hook.running.json"))

    assert (outcome.status, outcome.queued) == (202, RELEASE_QUEUE)
    assert await state.job_binding("gitlab", "1977") == ("rf-gl-aks-0123456789", 4121)
    [body] = await _bodies(queue, RELEASE_QUEUE)
    request = parse_release(body)
    assert isinstance(request, DeregisterRequest)
    assert (request.runner_name, request.runner_id, request.job_id) == ("rf-gl-aks-0123456789", 4121, 1977)


async def test_a_finished_job_whose_runner_was_deleted_releases_the_bound_runner(
    intake: GitLabIntake, queue: MemoryWorkQueue
) -> None:
    """A `success` hook with `runner: null` releases the runner bound to the job at `running`."""
    await intake.handle(*_hook("job_hook.running.json"))
    await _bodies(queue, RELEASE_QUEUE)

    request = await _finished_without_runner(intake, queue)

    assert (request.runner_name, request.runner_id, request.conclusion) == (
        "rf-gl-aks-0123456789",
        4121,
        "success",
    )


async def test_a_finished_job_with_no_runner_of_ours_is_settled_by_the_release_step(
    intake: GitLabIntake, queue: MemoryWorkQueue, state: FleetState
) -> None:
    """A finished job without a runner or binding: the hook path settles nothing itself (a forged hook
    could), it enqueues a runner-less release that confirms the job's end with GitLab first."""
    request = await _finished_without_runner(intake, queue)

    assert (request.runner_name, request.project_id) == (
        "",
        gitlab_event("job_hook.success.json")["project_id"],
    )
    assert await state.job("gitlab", str(request.job_id)) is None


@pytest.mark.parametrize(
    "name", ["job_hook.success.json", "job_hook.failed.json", "job_hook.canceled_running.json"]
)
async def test_finished_jobs_release_our_runner(
    intake: GitLabIntake, queue: MemoryWorkQueue, name: str
) -> None:
    """success, failed and canceled on our runner enqueue a release of that runner."""
    outcome = await intake.handle(*_hook(name))
    assert (outcome.status, outcome.queued) == (202, RELEASE_QUEUE)
    [body] = await _bodies(queue, RELEASE_QUEUE)
    request = parse_release(body)
    assert (request.runner_name, request.runner_id, request.pool) == ("rf-gl-aks-0123456789", 4121, "gl-aks")


async def test_cancelled_while_pending_is_only_settled(intake: GitLabIntake, queue: MemoryWorkQueue) -> None:
    """A job cancelled before any runner took it has no runner to release: a settle-only release."""
    assert (await intake.handle(*_hook("job_hook.canceled_pending.json"))).status == 202
    [body] = await _bodies(queue, RELEASE_QUEUE)
    request = parse_release(body)
    assert isinstance(request, ReleaseRequest) and request.runner_name == ""


async def test_jobs_finished_on_other_runners_are_ignored(
    intake: GitLabIntake, queue: MemoryWorkQueue
) -> None:
    """A job that ran on a shared SaaS runner is acknowledged and releases nothing."""
    outcome = await intake.handle(*_hook("job_hook.success_shared_runner.json"))
    assert outcome.status == 200 and "not managed" in outcome.reason
    assert await queue.depth(RELEASE_QUEUE) == 0


async def test_wrong_or_missing_token_is_401(intake: GitLabIntake, queue: MemoryWorkQueue) -> None:
    """A wrong X-Gitlab-Token, or none, is refused."""
    assert (await intake.handle(*_hook("job_hook.pending.json", token="guess"))).status == 401
    headers, body = _hook("job_hook.pending.json")
    del headers["X-Gitlab-Token"]
    assert (await intake.handle(headers, body)).status == 401
    assert await queue.depth(PROVISION_QUEUE) == 0


async def test_same_idempotency_key_is_a_duplicate(intake: GitLabIntake, queue: MemoryWorkQueue) -> None:
    """Two deliveries with one Idempotency-Key enqueue once."""
    first = await intake.handle(*_hook("job_hook.pending.json", key="k-1"))
    second = await intake.handle(*_hook("job_hook.pending.json", key="k-1"))
    assert (first.status, second.status) == (202, 200)
    assert await queue.depth(PROVISION_QUEUE) == 1


async def test_without_delivery_headers_the_job_and_status_deduplicate(
    intake: GitLabIntake, queue: MemoryWorkQueue
) -> None:
    """Older GitLab sends no Idempotency-Key: the same job and status twice enqueue once."""
    for _ in range(2):
        headers, body = _hook("job_hook.pending.json")
        del headers["Idempotency-Key"], headers["X-Gitlab-Event-UUID"]
        await intake.handle(headers, body)
    assert await queue.depth(PROVISION_QUEUE) == 1


async def test_other_hook_kinds_are_ignored(intake: GitLabIntake) -> None:
    """A Pipeline Hook gets a 2xx and no action."""
    outcome = await intake.handle(*_hook("job_hook.pending.json", kind="Pipeline Hook"))
    assert outcome.status == 200 and "ignored" in outcome.reason


async def test_malformed_body_is_400(intake: GitLabIntake) -> None:
    """A token-authenticated body that is not a Job Hook is a 400."""
    headers, _ = _hook("job_hook.pending.json")
    assert (await intake.handle(headers, b"not json")).status == 400
    assert (await intake.handle(headers, b'{"object_kind": "build"}')).status == 400


async def test_projects_no_pool_covers_are_left_alone(queue: MemoryWorkQueue, state: FleetState) -> None:
    """With only a project pool for another project, a pending job is acknowledged and not enqueued."""
    other = make_pool("gl-other", ("aks-prod",), forge="gitlab", github=None, gitlab={"project_id": 999})
    intake = GitLabIntake(TOKEN.encode(), (other,), queue, state)
    outcome = await intake.handle(*_hook("job_hook.pending.json"))
    assert outcome.status == 200 and "no pool" in outcome.reason


class TestSignedHooks:
    SIGNING = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

    def _intake(self, queue: MemoryWorkQueue, state: FleetState, now: float) -> GitLabIntake:
        return GitLabIntake(
            TOKEN.encode(), (GROUP_POOL,), queue, state, signing_token=self.SIGNING, now=lambda: now
        )

    def _signed(self, when: float, **overrides: Any) -> tuple[dict[str, str], bytes]:
        headers, body = _hook("job_hook.pending.json")
        ts = str(int(when))
        key = b"0123456789abcdef0123456789abcdef"
        headers |= {
            "webhook-id": "msg_9",
            "webhook-timestamp": ts,
            "webhook-signature": standard_webhooks_signature(key, "msg_9", ts, body),
        }
        return headers | overrides, body

    async def test_good_signature_is_accepted(self, queue: MemoryWorkQueue, state: FleetState) -> None:
        """A valid, fresh signature with the right token is accepted."""
        now = time.time()
        assert (await self._intake(queue, state, now).handle(*self._signed(now))).status == 202

    async def test_unsigned_hook_is_refused_when_signing_is_configured(
        self, queue: MemoryWorkQueue, state: FleetState
    ) -> None:
        """With a signing token configured, a hook with only the token header is a 401."""
        now = time.time()
        outcome = await self._intake(queue, state, now).handle(*_hook("job_hook.pending.json"))
        assert outcome.status == 401

    async def test_stale_signature_is_refused(self, queue: MemoryWorkQueue, state: FleetState) -> None:
        """A correctly signed hook from ten minutes ago is refused as a replay."""
        now = time.time()
        outcome = await self._intake(queue, state, now).handle(*self._signed(now - 600))
        assert outcome.status == 401 and "timestamp" in outcome.reason

    async def test_wrong_signature_is_refused(self, queue: MemoryWorkQueue, state: FleetState) -> None:
        """A signature that does not match the body is a 401."""
        now = time.time()
        headers, body = self._signed(now)
        assert (await self._intake(queue, state, now).handle(headers, body + b" ")).status == 401

    async def test_a_replay_with_new_unsigned_ids_is_a_duplicate(
        self, queue: MemoryWorkQueue, state: FleetState
    ) -> None:
        """With signing on, de-duplication keys on the signed webhook-id: new Idempotency-Key, same hook."""
        now = time.time()
        intake = self._intake(queue, state, now)
        first, body = self._signed(now)
        replay = first | {"Idempotency-Key": str(uuid.uuid4()), "X-Gitlab-Event-UUID": str(uuid.uuid4())}

        assert (await intake.handle(first, body)).status == 202
        again = await intake.handle(replay, body)

        assert (again.status, again.reason) == (200, "duplicate delivery")
        assert await queue.depth(PROVISION_QUEUE) == 1
