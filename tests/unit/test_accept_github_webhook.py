import json

import pytest
from structlog.testing import capture_logs

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import RunnerStarted, parse_provision, parse_provision_queue, parse_release
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.accept_github_webhook import GitHubIntake
from runner_fleet.usecases.outcome import MAX_BODY_BYTES
from tests.builders import WEBHOOK_SECRET, event, make_pool, signed


@pytest.fixture
def queue() -> MemoryWorkQueue:
    return MemoryWorkQueue()


@pytest.fixture
def intake(queue: MemoryWorkQueue) -> GitHubIntake:
    pools = (make_pool("aks-prod", ("aks-prod",)), make_pool("aks-dev", ("aks-dev",)))
    return GitHubIntake(WEBHOOK_SECRET.encode(), pools, queue, FleetState(MemoryStateTable()))


async def _bodies(queue: MemoryWorkQueue, name: str) -> list[str]:
    return [m.body for m in await queue.receive(name, max_messages=32, visibility_timeout_s=60)]


async def test_queued_job_is_enqueued_for_its_pool(intake: GitHubIntake, queue: MemoryWorkQueue) -> None:
    """A signed queued job matching a pool answers 202 and enqueues a provision request."""
    outcome = await intake.handle(*signed(event("workflow_job.queued.json"), delivery="d-1"))
    assert (outcome.status, outcome.queued) == (202, PROVISION_QUEUE)
    [body] = await _bodies(queue, PROVISION_QUEUE)
    request = parse_provision(body)
    assert (request.pool, request.job_id, request.org, request.installation_id) == (
        "aks-prod",
        2832853555,
        "example-org",
        2311213,
    )
    assert request.repository == "example-org/platform-deploy"


async def test_bad_signature_is_401_and_enqueues_nothing(
    intake: GitHubIntake, queue: MemoryWorkQueue
) -> None:
    """A body signed with another secret is refused with 401."""
    outcome = await intake.handle(*signed(event("workflow_job.queued.json"), secret="wrong"))
    assert outcome.status == 401
    assert await queue.depth(PROVISION_QUEUE) == 0


async def test_missing_signature_is_401(intake: GitHubIntake) -> None:
    """No signature header at all is 401."""
    headers, body = signed(event("workflow_job.queued.json"))
    del headers["X-Hub-Signature-256"]
    assert (await intake.handle(headers, body)).status == 401


async def test_header_names_are_case_insensitive(intake: GitHubIntake) -> None:
    """Lower-cased header names (as some hosts deliver them) work."""
    headers, body = signed(event("workflow_job.queued.json"))
    assert (await intake.handle({k.lower(): v for k, v in headers.items()}, body)).status == 202


async def test_signed_garbage_is_400(intake: GitHubIntake) -> None:
    """A correctly signed body that is not JSON is a 400."""
    assert (await intake.handle(*signed(b"{not json"))).status == 400


async def test_signed_wrong_shape_is_400(intake: GitHubIntake) -> None:
    """A correctly signed workflow_job without its job object is a 400 naming the field."""
    outcome = await intake.handle(*signed({"action": "queued"}))
    assert outcome.status == 400
    assert "workflow_job" in outcome.reason


async def test_oversized_body_is_413(intake: GitHubIntake) -> None:
    """A body over 1 MiB is refused before anything else."""
    outcome = await intake.handle({}, b" " * (MAX_BODY_BYTES + 1))
    assert outcome.status == 413


async def test_ping_is_answered(intake: GitHubIntake) -> None:
    """A ping gets 200 pong."""
    outcome = await intake.handle(*signed(event("ping.json"), event_name="ping"))
    assert (outcome.status, outcome.reason) == (200, "pong")


async def test_other_events_are_acknowledged_and_ignored(
    intake: GitHubIntake, queue: MemoryWorkQueue
) -> None:
    """An event we do not act on gets a 2xx with a reason."""
    outcome = await intake.handle(*signed({"action": "opened"}, event_name="issues"))
    assert outcome.status == 200 and "ignored" in outcome.reason
    assert await queue.depth(PROVISION_QUEUE) == 0


async def test_missing_event_or_delivery_headers_are_400(intake: GitHubIntake) -> None:
    """Without X-GitHub-Event or X-GitHub-Delivery the request is malformed."""
    headers, body = signed(event("workflow_job.queued.json"))
    del headers["X-GitHub-Delivery"]
    assert (await intake.handle(headers, body)).status == 400


async def test_duplicate_delivery_is_not_enqueued_twice(intake: GitHubIntake, queue: MemoryWorkQueue) -> None:
    """The same X-GitHub-Delivery twice enqueues once; the second answer says duplicate."""
    payload = event("workflow_job.queued.json")
    first = await intake.handle(*signed(payload, delivery="same"))
    second = await intake.handle(*signed(payload, delivery="same"))
    assert (first.status, second.status, second.reason) == (202, 200, "duplicate delivery")
    assert await queue.depth(PROVISION_QUEUE) == 1


async def test_unmatched_labels_are_left_alone(intake: GitHubIntake, queue: MemoryWorkQueue) -> None:
    """A job for GitHub-hosted labels gets 200 and nothing is enqueued."""
    outcome = await intake.handle(*signed(event("workflow_job.queued_hosted.json")))
    assert outcome.status == 200 and "no pool" in outcome.reason
    assert await queue.depth(PROVISION_QUEUE) == 0


async def test_waiting_job_is_not_provisioned(intake: GitHubIntake, queue: MemoryWorkQueue) -> None:
    """action queued with status waiting (environment approval) provisions nothing yet."""
    for name in ("workflow_job.queued_waiting.json", "workflow_job.waiting.json"):
        outcome = await intake.handle(*signed(event(name)))
        assert outcome.status == 200 and "waiting" in outcome.reason
    assert await queue.depth(PROVISION_QUEUE) == 0


async def test_completed_by_our_runner_enqueues_release(intake: GitHubIntake, queue: MemoryWorkQueue) -> None:
    """`completed` naming one of our runners enqueues a release for that runner."""
    outcome = await intake.handle(*signed(event("workflow_job.completed.json")))
    assert (outcome.status, outcome.queued) == (202, RELEASE_QUEUE)
    [body] = await _bodies(queue, RELEASE_QUEUE)
    request = parse_release(body)
    assert (request.runner_name, request.runner_id, request.pool) == (
        "rf-aks-prod-0123456789",
        23,
        "aks-prod",
    )


async def test_completed_by_hosted_runner_is_ignored(intake: GitHubIntake, queue: MemoryWorkQueue) -> None:
    """`completed` naming a GitHub-hosted runner is acknowledged and releases nothing."""
    outcome = await intake.handle(*signed(event("workflow_job.completed_hosted.json")))
    assert outcome.status == 200 and "not managed" in outcome.reason
    assert await queue.depth(RELEASE_QUEUE) == 0


async def test_completed_for_an_unknown_pool_is_ignored(intake: GitHubIntake, queue: MemoryWorkQueue) -> None:
    """A runner name of our shape but of a pool that is not configured is not released."""
    payload = event("workflow_job.completed.json")
    payload["workflow_job"]["runner_name"] = "rf-old-pool-0123456789"
    assert (await intake.handle(*signed(payload))).status == 200
    assert await queue.depth(RELEASE_QUEUE) == 0


async def test_cancelled_before_assignment_releases_nothing(
    intake: GitHubIntake, queue: MemoryWorkQueue
) -> None:
    """A job cancelled while queued has no runner to release."""
    outcome = await intake.handle(*signed(event("workflow_job.completed_cancelled_unassigned.json")))
    assert outcome.status == 200
    assert await queue.depth(RELEASE_QUEUE) == 0


async def test_in_progress_on_our_runner_reports_the_start(
    intake: GitHubIntake, queue: MemoryWorkQueue
) -> None:
    """in_progress on one of our runners enqueues a RunnerStarted naming that runner, nothing else."""
    assert (await intake.handle(*signed(event("workflow_job.in_progress.json")))).status == 202
    [body] = await _bodies(queue, PROVISION_QUEUE)
    started = parse_provision_queue(body)
    assert isinstance(started, RunnerStarted)
    assert (started.runner_name, started.pool) == ("rf-aks-prod-0123456789", "aks-prod")
    assert await queue.depth(RELEASE_QUEUE) == 0


async def test_in_progress_on_another_runner_is_noted_only(
    intake: GitHubIntake, queue: MemoryWorkQueue
) -> None:
    """in_progress on a runner that is not ours is acknowledged with 200 and enqueues nothing."""
    payload = event("workflow_job.in_progress.json")
    payload["workflow_job"]["runner_name"] = "hosted-runner-7"
    assert (await intake.handle(*signed(payload))).status == 200
    assert await queue.depth(PROVISION_QUEUE) + await queue.depth(RELEASE_QUEUE) == 0


class _BrokenQueue(MemoryWorkQueue):
    async def send(self, queue: str, body: str, *, delay_s: float = 0.0) -> None:
        raise ConnectionError("storage down")


async def test_enqueue_failure_is_503_and_forgets_the_delivery() -> None:
    """If the queue is down the answer is 503 and the delivery may be redelivered later."""
    state = FleetState(MemoryStateTable())
    pools = (make_pool(),)
    payload = event("workflow_job.queued.json")
    broken = GitHubIntake(WEBHOOK_SECRET.encode(), pools, _BrokenQueue(), state)
    assert (await broken.handle(*signed(payload, delivery="d-9"))).status == 503
    working_queue = MemoryWorkQueue()
    working = GitHubIntake(WEBHOOK_SECRET.encode(), pools, working_queue, state)
    assert (await working.handle(*signed(payload, delivery="d-9"))).status == 202


async def test_answer_body_is_json_with_a_reason(intake: GitHubIntake) -> None:
    """The response body is a small JSON object with the reason."""
    outcome = await intake.handle(*signed(event("workflow_job.queued.json")))
    assert json.loads(json.dumps(outcome.body)) == {"status": "accepted", "queued": PROVISION_QUEUE}


async def test_a_job_naming_only_implied_labels_is_left_alone(
    intake: GitHubIntake, queue: MemoryWorkQueue
) -> None:
    """`runs-on: self-hosted` (or `[self-hosted, linux, x64]`) names no pool: nothing is enqueued."""
    for labels in (["self-hosted"], ["self-hosted", "linux", "x64"]):
        payload = event("workflow_job.queued.json")
        payload["workflow_job"]["labels"] = labels
        outcome = await intake.handle(*signed(payload))
        assert outcome.status == 200 and "no pool" in outcome.reason
    assert await queue.depth(PROVISION_QUEUE) == 0


async def test_a_public_repositorys_job_is_left_alone_unless_a_pool_serves_public_ones(
    queue: MemoryWorkQueue,
) -> None:
    """A job of a public repository is enqueued only for a pool with allow_public_repositories."""
    payload = event("workflow_job.queued.json")
    payload["repository"]["private"] = False
    closed = GitHubIntake(WEBHOOK_SECRET.encode(), (make_pool(),), queue, FleetState(MemoryStateTable()))
    assert (await closed.handle(*signed(payload))).status == 200
    assert await queue.depth(PROVISION_QUEUE) == 0
    scope = {"org": "example-org", "runner_group_id": 5, "allow_public_repositories": True}
    opted = GitHubIntake(
        WEBHOOK_SECRET.encode(), (make_pool(github=scope),), queue, FleetState(MemoryStateTable())
    )
    assert (await opted.handle(*signed(payload))).status == 202


async def test_every_completed_job_a_pool_could_serve_is_settled_whoever_ran_it(
    queue: MemoryWorkQueue,
) -> None:
    """`completed` settles the job (no VM may follow) whether our runner, another runner or none ran it."""
    state = FleetState(MemoryStateTable())
    intake = GitHubIntake(WEBHOOK_SECRET.encode(), (make_pool(),), queue, state)
    elsewhere = event("workflow_job.completed.json")
    elsewhere["workflow_job"]["runner_name"] = "someone-elses-runner"
    await intake.handle(*signed(elsewhere))
    [settled] = await state.jobs("github")
    assert (settled.data["state"], await queue.depth(RELEASE_QUEUE)) == ("done", 0)

    hosted = event("workflow_job.completed_hosted.json")
    await intake.handle(*signed(hosted))
    assert len(await state.jobs("github")) == 1  # no pool could have served ubuntu-latest


async def test_a_completed_job_is_settled_before_its_release_is_enqueued(
    intake: GitHubIntake, queue: MemoryWorkQueue
) -> None:
    """`completed` on our runner settles the job and enqueues the release that deletes the VM."""
    assert (await intake.handle(*signed(event("workflow_job.completed.json")))).status == 202
    record = await intake.state.job("github", "2832853555")
    assert record is not None and record.data["state"] == "done"


async def test_the_start_is_logged_with_the_jobs_wait_from_githubs_own_times(intake: GitHubIntake) -> None:
    """`job.running` carries wait_s = started_at - created_at (the workbook's percentiles read it)."""
    payload = event("workflow_job.in_progress.json")
    payload["workflow_job"] |= {"created_at": "2026-11-20T10:00:00Z", "started_at": "2026-11-20T10:01:30Z"}
    with capture_logs() as logs:
        assert (await intake.handle(*signed(payload))).status == 202
    [running] = [e for e in logs if e["event"] == "job.running"]
    assert running["wait_s"] == 90.0
