"""The webhook functions, called as the Functions host calls them, with hostile requests."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from runner_fleet import logs, runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.host.index import index_app
from runner_fleet.settings import load_service_settings
from runner_fleet.state.table import Data, Record
from tests.builders import WEBHOOK_SECRET, event, make_pool, signed
from tests.fakes import FakeCompute, FakeRegistry
from tests.unit.test_gitlab_events import gitlab_event

GITLAB_TOKEN = "functional-gitlab-hook-token"


def _install(table: MemoryStateTable) -> runtime.Runtime:
    settings = load_service_settings(
        {
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "GITHUB_TOKEN": "t" * 40,
            "GITLAB_URL": "https://gitlab.example",
            "GITLAB_TOKEN": "g" * 40,
            "GITLAB_WEBHOOK_TOKEN": GITLAB_TOKEN,
        }
    )
    pools = (
        make_pool("aks-prod", ("aks-prod",)),
        make_pool("gl-aks", ("aks-prod",), forge="gitlab", github=None, gitlab={"group_id": 7}),
    )
    rt = runtime.Runtime(settings, pools, MemoryWorkQueue(), table, FakeCompute, {"github": FakeRegistry})
    runtime.install(rt)
    return rt


@pytest.fixture
def installed() -> Iterator[runtime.Runtime]:
    yield _install(MemoryStateTable())
    runtime.install(None)


def _handler(name: str) -> Any:
    return next(f.handler for f in index_app().http if f.name == name)


async def _post(route: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    request = func.HttpRequest("POST", f"http://localhost/api/{route}", headers=headers, params={}, body=body)
    response = await _handler(f"{route}_webhook")(request)
    answer: dict[str, Any] = json.loads(response.get_body())
    return response.status_code, answer


def _job_hook(payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    headers = {
        "X-Gitlab-Event": "Job Hook",
        "X-Gitlab-Token": GITLAB_TOKEN,
        "Idempotency-Key": str(uuid.uuid4()),
    }
    return headers, json.dumps(payload).encode()


async def test_a_100000_deep_body_is_400(installed: runtime.Runtime) -> None:
    """A signed body nested 100,000 deep is answered 400 by the GitHub function."""
    status, answer = await _post("github", *signed(b"[" * 100_000 + b"]" * 100_000))
    assert (status, answer) == (400, {"status": "malformed workflow_job: body is nested too deeply"})


async def test_a_delivery_id_over_1_kib_is_400(installed: runtime.Runtime) -> None:
    """An X-GitHub-Delivery over 1 KiB is answered 400 by the GitHub function."""
    status, _ = await _post("github", *signed(event("workflow_job.queued.json"), delivery="d" * 1100))
    assert status == 400


async def test_a_1200_digit_gitlab_job_id_is_400(installed: runtime.Runtime) -> None:
    """A Job Hook whose build_id has 1,200 digits is answered 400 by the GitLab function."""
    payload = dict(gitlab_event("job_hook.pending.json")) | {"build_id": int("9" * 1200)}
    status, answer = await _post("gitlab", *_job_hook(payload))
    assert (status, answer) == (400, {"status": "malformed Job Hook: 'build_id' must be an integer id"})


async def test_a_body_over_1_mib_is_413(installed: runtime.Runtime) -> None:
    """A correctly signed body of 1 MiB + 1 byte is answered 413."""
    body = json.dumps(event("workflow_job.queued.json")).encode()
    status, _ = await _post("github", *signed(body + b" " * (1024 * 1024 + 1 - len(body))))
    assert status == 413


class _LeakyTable(MemoryStateTable):
    """A state table failing the way a storage SDK might: with a credential in the exception's text."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    async def insert(self, partition: str, key: str, data: Data) -> Record:
        raise RuntimeError(f"table unreachable with key {self.secret}")


async def test_an_unexpected_failure_is_a_500_that_leaks_nothing() -> None:
    """An exception inside a use case becomes a bare 500, logged with its secrets masked."""
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    secret = "storage-account-key-" + uuid.uuid4().hex
    logs.register_secret(secret)
    _install(_LeakyTable(secret))
    try:
        status, answer = await _post("github", *signed(event("workflow_job.queued.json")))
    finally:
        runtime.install(None)
    assert (status, answer) == (500, {"status": "internal error"})
    [failed] = [json.loads(line) for line in stream.getvalue().splitlines() if "webhook.failed" in line]
    assert "RuntimeError" in failed["exception"] and secret not in stream.getvalue()
