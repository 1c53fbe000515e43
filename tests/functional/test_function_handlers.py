"""The function_app's own handlers, called as the Functions host calls them."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from runner_fleet import naming, runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.host.index import index_app
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE, poison_queue
from runner_fleet.state.usage import USAGE_RETENTION, Usage, UsageLog
from tests.builders import event, signed
from tests.fakes import FakeCompute, FakeRegistry


def _handler(name: str) -> Any:
    index = index_app()
    functions: dict[str, Any] = {f.name: f.handler for f in index.http}
    functions |= {f.name: f.handler for f in index.queues} | {f.name: f.handler for f in index.timers}
    return functions[name]


def _request(headers: dict[str, str], body: bytes, route: str = "github") -> func.HttpRequest:
    return func.HttpRequest("POST", f"http://localhost/api/{route}", headers=headers, params={}, body=body)


async def _drain(rt: runtime.Runtime, queue: str, handler_name: str) -> int:
    handler = _handler(handler_name)
    handled = 0
    for message in await rt.queue.receive(queue, max_messages=32, visibility_timeout_s=60):
        await handler(QueueMessage(id=message.id, body=message.body.encode(), dequeue_count=1))
        await rt.queue.delete(queue, message)
        handled += 1
    return handled


def test_function_app_declares_the_contract_routes_queues_and_timers(installed: runtime.Runtime) -> None:
    """function_app registers /api/github, /api/health, both queue triggers and the housekeeping timer."""
    index = index_app()
    assert {(f.route, f.methods) for f in index.http} == {
        ("github", ("POST",)),
        ("gitlab", ("POST",)),
        ("health", ("GET",)),
    }
    assert {q.queue_name for q in index.queues} == {
        PROVISION_QUEUE,
        RELEASE_QUEUE,
        poison_queue(PROVISION_QUEUE),
        poison_queue(RELEASE_QUEUE),
    }
    assert all(q.connection == "AzureWebJobsStorage" for q in index.queues)
    assert {(t.name, t.schedule) for t in index.timers} == {
        ("housekeeping", "0 17 * * * *"),
        ("reconcile", "0 */1 * * * *"),
    }


async def test_queued_webhook_then_provision_creates_a_vm(
    installed: runtime.Runtime, fakes: tuple[FakeCompute, FakeRegistry]
) -> None:
    """A signed queued webhook answers 202; the provision function then creates the runner's VM."""
    response = await _handler("github_webhook")(_request(*signed(event("workflow_job.queued.json"))))
    assert response.status_code == 202
    assert json.loads(response.get_body()) == {"status": "accepted", "queued": PROVISION_QUEUE}
    assert await _drain(installed, PROVISION_QUEUE, "provision") == 1
    compute, registry = fakes
    name = naming.runner_name("aks-prod", "github", "2832853555")
    assert compute.created == [name] and registry.registrations == [name]


async def test_completed_webhook_then_release_deletes_the_vm(
    installed: runtime.Runtime, fakes: tuple[FakeCompute, FakeRegistry]
) -> None:
    """After provisioning, a completed webhook naming the runner leads to the VM's deletion."""
    await _handler("github_webhook")(_request(*signed(event("workflow_job.queued.json"))))
    await _drain(installed, PROVISION_QUEUE, "provision")
    compute, registry = fakes
    name = compute.created[0]
    completed = event("workflow_job.completed.json")
    completed["workflow_job"] |= {"runner_name": name, "runner_id": next(iter(registry.runners))}
    response = await _handler("github_webhook")(_request(*signed(completed)))
    assert response.status_code == 202
    assert await _drain(installed, RELEASE_QUEUE, "release") == 1
    assert compute.deleted == [name] and registry.runners == {}


async def test_a_host_instance_serving_its_own_runtime_writes_to_its_own_queue(
    installed: runtime.Runtime,
) -> None:
    """Under `runtime.serving(other)` the handlers use `other`, not the process's runtime; outside, the
    process's again (several host instances in one process, each with its own adapters)."""
    other = dataclasses.replace(installed, queue=MemoryWorkQueue(), table=MemoryStateTable())
    with runtime.serving(other):
        response = await _handler("github_webhook")(_request(*signed(event("workflow_job.queued.json"))))
    assert response.status_code == 202
    assert await other.queue.depth(PROVISION_QUEUE) == 1
    assert await installed.queue.depth(PROVISION_QUEUE) == 0
    assert runtime.current() is installed


async def test_bad_signature_is_401(installed: runtime.Runtime) -> None:
    """The HTTP function maps a bad signature to 401."""
    headers, body = signed(event("workflow_job.queued.json"), secret="not-the-secret")
    assert (await _handler("github_webhook")(_request(headers, body))).status_code == 401


async def test_unreadable_queue_message_is_dropped_not_retried(
    installed: runtime.Runtime, fakes: tuple[FakeCompute, FakeRegistry]
) -> None:
    """A message that is not a provision request completes without creating anything."""
    await _handler("provision")(QueueMessage(id="x", body=b"{}", dequeue_count=1))
    assert fakes[0].created == []


async def test_housekeeping_timer_forgets_old_deliveries_and_keeps_recent_ones(
    installed: runtime.Runtime,
) -> None:
    """The housekeeping timer deletes delivery records older than GitHub's three-day redelivery window."""
    table = installed.table
    await table.insert("delivery-github", "old", {"received_at": time.time() - 4 * 86400})
    await table.insert("delivery-github", "recent", {"received_at": time.time() - 3600})

    await _handler("housekeeping")(TimerRequest(past_due=False))

    assert [record.key for record in await table.query("delivery-github")] == ["recent"]


async def test_housekeeping_timer_purges_job_records_past_their_retention(installed: runtime.Runtime) -> None:
    """Housekeeping deletes done job records past JOB_RETENTION, others past ABANDONED_JOB_RETENTION."""
    table, now = installed.table, time.time()
    finished_long_ago = now - runtime.JOB_RETENTION.total_seconds() - 60
    abandoned = now - runtime.ABANDONED_JOB_RETENTION.total_seconds() - 60
    await table.insert("job-github", "done-old", {"state": "done", "updated": finished_long_ago})
    await table.insert("job-github", "done-recent", {"state": "done", "updated": now - 3600})
    await table.insert("job-github", "served", {"state": "provisioned", "updated": finished_long_ago})
    await table.insert("job-github", "abandoned", {"state": "provisioned", "updated": abandoned})
    await table.insert("job-gitlab", "done-old", {"state": "done", "updated": finished_long_ago})

    await _handler("housekeeping")(TimerRequest(past_due=False))

    assert [record.key for record in await table.query("job-github")] == ["done-recent", "served"]
    assert await table.query("job-gitlab") == []


async def test_housekeeping_timer_purges_usage_days_past_their_retention(installed: runtime.Runtime) -> None:
    """Housekeeping drops the usage rows of days older than USAGE_RETENTION (35 days); newer ones stay."""
    log, now = UsageLog(installed.table), time.time()
    old = Usage("rf-aks-prod-old", "aks-prod", "github", "1", "Standard_D2ads_v5", False, "westeurope", 0, 0)
    for runner, released in (("rf-aks-prod-old", now - 37 * 86400), ("rf-aks-prod-new", now - 86400)):
        await log.record(
            dataclasses.replace(old, runner=runner, created_at=released - 600, released_at=released)
        )

    await _handler("housekeeping")(TimerRequest(past_due=False))

    assert [u.runner for u in await log.since(now - USAGE_RETENTION.total_seconds() - 5 * 86400)] == [
        "rf-aks-prod-new"
    ]


def test_webhook_path_imports_no_azure_management_sdk() -> None:
    """Loading function_app and answering a webhook never imports azure.mgmt, azure.identity or PyGithub."""
    probe = Path(__file__).with_name("webhook_path_probe.py")
    result = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"status": 202, "loaded": []}
