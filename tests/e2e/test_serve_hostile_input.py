"""End to end: hostile webhook requests to `runner-fleet serve --simulate` get a 4xx, never a 500."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiohttp
import pytest

from runner_fleet.signatures import standard_webhooks_key, standard_webhooks_signature
from tests.builders import event, signed
from tests.e2e.conftest import E2E_GITLAB_SIGNING, E2E_GITLAB_TOKEN, E2E_SECRET, ServeProcess, post
from tests.unit.test_gitlab_events import gitlab_event

pytestmark = pytest.mark.e2e


def _signed_job_hook(payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    message_id, ts = str(uuid.uuid4()), str(int(time.time()))
    key = standard_webhooks_key(E2E_GITLAB_SIGNING)
    return {
        "X-Gitlab-Event": "Job Hook",
        "X-Gitlab-Token": E2E_GITLAB_TOKEN,
        "webhook-id": message_id,
        "webhook-timestamp": ts,
        "webhook-signature": standard_webhooks_signature(key, message_id, ts, body),
    }, body


async def test_hostile_requests_are_refused_with_a_4xx(
    served: ServeProcess, http: aiohttp.ClientSession
) -> None:
    """Over 1 MiB is 413; deep JSON, an over-long delivery id and a 1,200-digit job id are 400."""
    github, gitlab = f"{served.url}/api/github", f"{served.url}/api/gitlab"
    queued = event("workflow_job.queued.json")
    big = json.dumps(queued).encode() + b" " * (1024 * 1024)
    assert await post(http, github, *signed(big, secret=E2E_SECRET)) == (
        413,
        {"status": "payload too large"},
    )
    deep = b"[" * 100_000 + b"]" * 100_000
    assert (await post(http, github, *signed(deep, secret=E2E_SECRET)))[0] == 400
    assert (await post(http, github, *signed(queued, secret=E2E_SECRET, delivery="d" * 1100)))[0] == 400
    huge_job = dict(gitlab_event("job_hook.pending.json")) | {"build_id": int("9" * 1200)}
    assert (await post(http, gitlab, *_signed_job_hook(huge_job)))[0] == 400
    assert not served.events("host.http_function_failed") and not served.events("webhook.failed")
