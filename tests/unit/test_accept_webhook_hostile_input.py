"""Hostile input to both intakes: refused cheaply, and after authentication always a 4xx, never a 500."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE
from runner_fleet.signatures import github_signature, standard_webhooks_signature
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.accept_github_webhook import GitHubIntake
from runner_fleet.usecases.accept_gitlab_webhook import GitLabIntake
from tests.builders import WEBHOOK_SECRET, event, make_pool, signed
from tests.unit.test_gitlab_events import gitlab_event

GITLAB_TOKEN = "gitlab-hook-token-42"
GITLAB_POOL = make_pool("gl-aks", ("aks-prod",), forge="gitlab", github=None, gitlab={"group_id": 7})
SIGNING_KEY = b"0123456789abcdef0123456789abcdef"
DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE_ID = int("9" * 1200)
ONE_MIB = 1024 * 1024  # the contract's limit, spelled out so that changing the constant fails here


@pytest.fixture
def queue() -> MemoryWorkQueue:
    return MemoryWorkQueue()


@pytest.fixture
def github(queue: MemoryWorkQueue) -> GitHubIntake:
    return GitHubIntake(WEBHOOK_SECRET.encode(), (make_pool(),), queue, FleetState(MemoryStateTable()))


@pytest.fixture
def gitlab(queue: MemoryWorkQueue) -> GitLabIntake:
    return GitLabIntake(GITLAB_TOKEN.encode(), (GITLAB_POOL,), queue, FleetState(MemoryStateTable()))


async def _nothing_queued(queue: MemoryWorkQueue) -> bool:
    return await queue.depth(PROVISION_QUEUE) + await queue.depth(RELEASE_QUEUE) == 0


def _queued(**job: Any) -> dict[str, Any]:
    payload = event("workflow_job.queued.json")
    payload["workflow_job"] |= job
    return payload


def _completed(**job: Any) -> dict[str, Any]:
    payload = event("workflow_job.completed.json")
    payload["workflow_job"] |= {"runner_name": "rf-aks-prod-0123456789", "runner_id": 5} | job
    return payload


def _hook(payload: dict[str, Any] | bytes, **headers: str) -> tuple[dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {
        "X-Gitlab-Event": "Job Hook",
        "X-Gitlab-Token": GITLAB_TOKEN,
        "Idempotency-Key": str(uuid.uuid4()),
    } | headers, body


def _pending(**fields: Any) -> dict[str, Any]:
    return dict(gitlab_event("job_hook.pending.json")) | fields


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _running(**runner: Any) -> dict[str, Any]:
    payload: dict[str, Any] = dict(gitlab_event("job_hook.running.json"))
    payload["runner"] = {**payload["runner"], **runner}
    return payload


# -- size --------------------------------------------------------------------------------------


def _padded_to(payload: dict[str, Any], size: int) -> bytes:
    body = json.dumps(payload).encode()
    return body + b" " * (size - len(body))


async def test_a_correctly_signed_body_just_over_1_mib_is_413(
    github: GitHubIntake, queue: MemoryWorkQueue
) -> None:
    """A valid, signed workflow_job padded to 1 MiB + 1 byte is refused with 413, not accepted."""
    outcome = await github.handle(*signed(_padded_to(_queued(), ONE_MIB + 1)))
    assert outcome.status == 413
    assert await _nothing_queued(queue)


async def test_a_body_of_exactly_1_mib_is_read(github: GitHubIntake) -> None:
    """The limit is inclusive: a signed 1 MiB workflow_job is accepted."""
    assert (await github.handle(*signed(_padded_to(_queued(), ONE_MIB)))).status == 202


async def test_an_oversized_job_hook_is_413_even_with_the_right_token(
    gitlab: GitLabIntake, queue: MemoryWorkQueue
) -> None:
    """A Job Hook over 1 MiB is refused with 413 whatever its token."""
    assert (await gitlab.handle(*_hook(_padded_to(_pending(), ONE_MIB + 1)))).status == 413
    assert await _nothing_queued(queue)


# -- GitHub: the three reported 500s, then their relatives -------------------------------------


async def test_a_signed_100000_deep_body_is_400(github: GitHubIntake) -> None:
    """JSON nested 100,000 deep exhausts the parser's recursion: a 400, not a 500."""
    outcome = await github.handle(*signed(DEEP))
    assert (outcome.status, outcome.reason) == (400, "malformed workflow_job: body is nested too deeply")


async def test_a_delivery_id_over_1_kib_is_400_and_claims_nothing(
    github: GitHubIntake, queue: MemoryWorkQueue
) -> None:
    """An X-GitHub-Delivery longer than a state key may be is a 400; the same job then still goes through."""
    assert (await github.handle(*signed(_queued(), delivery="d" * 1100))).status == 400
    assert await _nothing_queued(queue)
    assert (await github.handle(*signed(_queued()))).status == 202


@pytest.mark.parametrize(
    "delivery",
    ["/" * 400, "d" * 129, "é" * 100, "\udcff", "a b", "x\n"],
    ids=["grows-when-encoded", "129-chars", "non-ascii", "undecodable-byte", "space", "newline"],
)
async def test_delivery_ids_that_are_not_uuid_like_are_400(github: GitHubIntake, delivery: str) -> None:
    """A delivery id must be 1-128 visible ASCII characters."""
    assert (await github.handle(*signed(_queued(), delivery=delivery))).status == 400


async def test_an_over_long_or_odd_event_name_is_400(github: GitHubIntake) -> None:
    """X-GitHub-Event is a short word; 65 characters or a control character is malformed."""
    assert (await github.handle(*signed(_queued(), event_name="e" * 65))).status == 400
    assert (await github.handle(*signed(_queued(), event_name="workflow_job\x00"))).status == 400


# Signed workflow_job bodies, by what is wrong with them.
HOSTILE_WORKFLOW_JOBS = {
    "array": b"[]",
    "string": b'"workflow_job"',
    "null": b"null",
    "number": b"1e999",
    "invalid-utf8": b'{"action": "queued", \xff}',
    "utf16": json.dumps(_queued()).encode("utf-16"),
    "nan": _json(_queued())[:-1] + b', "x": NaN}',
    "1200-digit-job-id": _json(_queued(id=HUGE_ID)),
    "job-id-2^63": _json(_queued(id=2**63)),
    "negative-job-id": _json(_queued(id=-1)),
    "float-job-id": _json(_queued(id=1.5)),
    "boolean-job-id": _json(_queued(id=True)),
    "null-status": _json(_queued(status=None)),
    "labels-string": _json(_queued(labels="aks-prod")),
    "null-job": _json(_queued() | {"workflow_job": None}),
    "repository-string": _json(_queued() | {"repository": "example-org/platform-deploy"}),
    "installation-id-2^64": _json(_queued() | {"installation": {"id": 2**64}}),
    "lone-surrogate-in-repository": _json(
        _queued() | {"repository": {"full_name": "a/\ud800", "owner": {"login": "a"}}}
    ),
    "runner-id-2^63": _json(_completed(runner_id=2**63)),
    "runner-id-string": _json(_completed(runner_id="5")),
    "conclusion-number": _json(_completed(conclusion=7)),
}


@pytest.mark.parametrize("body", HOSTILE_WORKFLOW_JOBS.values(), ids=HOSTILE_WORKFLOW_JOBS.keys())
async def test_signed_hostile_workflow_jobs_are_400(
    github: GitHubIntake, queue: MemoryWorkQueue, body: bytes
) -> None:
    """Correctly signed but malformed workflow_job bodies are each a 400 that enqueues nothing."""
    outcome = await github.handle(*signed(body))
    assert outcome.status == 400 and outcome.reason.startswith("malformed workflow_job")
    assert await _nothing_queued(queue)


async def test_ids_up_to_64_bits_are_accepted(github: GitHubIntake) -> None:
    """The largest signed 64-bit job id is still an id."""
    assert (await github.handle(*signed(_queued(id=2**63 - 1)))).status == 202


# -- GitLab --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "with_delivery_headers", [True, False], ids=["idempotency-key", "no-delivery-headers"]
)
async def test_a_1200_digit_gitlab_job_id_is_400(
    gitlab: GitLabIntake, queue: MemoryWorkQueue, with_delivery_headers: bool
) -> None:
    """A build_id of 1,200 digits is not a GitLab job id: 400, with or without a delivery header."""
    headers, body = _hook(_pending(build_id=HUGE_ID))
    if not with_delivery_headers:
        del headers["Idempotency-Key"]
    outcome = await gitlab.handle(headers, body)
    assert (outcome.status, outcome.reason) == (400, "malformed Job Hook: 'build_id' must be an integer id")
    assert await _nothing_queued(queue)


async def test_a_gitlab_delivery_key_over_1_kib_is_400(gitlab: GitLabIntake, queue: MemoryWorkQueue) -> None:
    """An Idempotency-Key or X-Gitlab-Event-UUID too long for a state key is a 400."""
    assert (await gitlab.handle(*_hook(_pending(), **{"Idempotency-Key": "k" * 1100}))).status == 400
    headers, body = _hook(_pending(), **{"X-Gitlab-Event-UUID": "u" * 1100})
    del headers["Idempotency-Key"]
    assert (await gitlab.handle(headers, body)).status == 400
    assert await _nothing_queued(queue)


async def test_an_over_long_gitlab_event_name_is_400(gitlab: GitLabIntake) -> None:
    """X-Gitlab-Event is a short name; 65 characters is malformed."""
    assert (await gitlab.handle(*_hook(_pending(), **{"X-Gitlab-Event": "H" * 65}))).status == 400


# Job Hook bodies with the right token, by what is wrong with them.
HOSTILE_JOB_HOOKS = {
    "100000-deep": DEEP,
    "array": b"[]",
    "string": b'"build"',
    "invalid-utf8": b"\xff\xfe",
    "project-id-2^63": _json(_pending(project_id=2**63)),
    "lone-surrogate-in-path": _json(_pending(project={"path_with_namespace": "\ud800"})),
    "null-status": _json(_pending(build_status=None)),
    "runner-id-string": _json(_running(id="4121")),
    "runner-id-2^63": _json(_running(id=2**63)),
    "runner-description-number": _json(_running(description=7)),
    "runner-array": _json(_pending(runner=[])),
}


@pytest.mark.parametrize("body", HOSTILE_JOB_HOOKS.values(), ids=HOSTILE_JOB_HOOKS.keys())
async def test_authenticated_hostile_job_hooks_are_400(
    gitlab: GitLabIntake, queue: MemoryWorkQueue, body: bytes
) -> None:
    """Job Hooks with the right token but a malformed body are each a 400 that enqueues nothing."""
    outcome = await gitlab.handle(*_hook(body))
    assert outcome.status == 400 and outcome.reason.startswith("malformed Job Hook")
    assert await _nothing_queued(queue)


def _signed_hook(now: float, *, msg_id: str = "msg_9", ts: str | None = None) -> tuple[dict[str, str], bytes]:
    """A pending Job Hook signed for `msg_id` and `ts`, as a sender holding the signing key would."""
    headers, body = _hook(_pending())
    ts = ts or str(int(now))
    try:
        signature = standard_webhooks_signature(SIGNING_KEY, msg_id, ts, body)
    except UnicodeError:
        signature = "v1,AAAA"  # an id that cannot be encoded cannot be signed either
    return headers | {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": signature}, body


def _signing_intake(queue: MemoryWorkQueue, now: float) -> GitLabIntake:
    return GitLabIntake(
        GITLAB_TOKEN.encode(),
        (GITLAB_POOL,),
        queue,
        FleetState(MemoryStateTable()),
        signing_token="whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        now=lambda: now,
    )


@pytest.mark.parametrize(
    ("msg_id", "ts"),
    [
        ("msg_9", "9" * 400),
        ("msg_9", "\uff11\uff17" + "\uff10" * 8),
        ("msg_\udcff", None),
        ("m" * 1100, None),
        ("msg 9", None),
    ],
    ids=["400-digit-timestamp", "fullwidth-digits", "undecodable-id", "1100-char-id", "id-with-space"],
)
async def test_signed_hooks_with_unusable_ids_or_timestamps_are_401(
    queue: MemoryWorkQueue, msg_id: str, ts: str | None
) -> None:
    """With signing on, a webhook-id or webhook-timestamp no sender would use is refused, not a 500."""
    now = 1_700_000_000.0
    intake = _signing_intake(queue, now)
    assert (await intake.handle(*_signed_hook(now))).status == 202
    assert (await intake.handle(*_signed_hook(now, msg_id=msg_id, ts=ts))).status == 401
    assert await queue.depth(PROVISION_QUEUE) == 1


async def test_an_over_long_signature_header_is_401(queue: MemoryWorkQueue) -> None:
    """A webhook-signature listing hundreds of candidates is refused before any is checked."""
    now = 1_700_000_000.0
    headers, body = _signed_hook(now)
    headers["webhook-signature"] = "v1,AAAA " * 200 + headers["webhook-signature"]
    outcome = await _signing_intake(queue, now).handle(headers, body)
    assert (outcome.status, outcome.reason) == (401, "invalid signature: webhook-signature is too long")


# -- GitHub signature header -------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "sha256=" + "0" * 10_000,
        "sha256=" + github_signature(WEBHOOK_SECRET.encode(), b"{}").removeprefix("sha256=").upper(),
        "\udcff",
    ],
    ids=["10000-hex-digits", "upper-case", "undecodable-byte"],
)
async def test_malformed_signature_headers_are_401_for_github(github: GitHubIntake, header: str) -> None:
    """A signature header not shaped like GitHub's is a 401 like any other bad signature."""
    headers, body = signed(_queued())
    assert (await github.handle(headers | {"X-Hub-Signature-256": header}, body)).status == 401
