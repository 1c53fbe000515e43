"""End to end for GitLab: `runner-fleet serve --simulate` receiving signed Job Hooks over HTTP."""

from __future__ import annotations

import json
import ssl as _ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import pytest

from runner_fleet.signatures import standard_webhooks_key, standard_webhooks_signature
from simulator.stack import DEMO_GITLAB_OTHER_PROJECT_ID, DEMO_GITLAB_PROJECT_ID
from simulator.testing import eventually
from tests.e2e.conftest import E2E_GITLAB_SIGNING, E2E_GITLAB_TOKEN, ServeProcess
from tests.unit.test_gitlab_events import gitlab_event

pytestmark = pytest.mark.e2e
T = TypeVar("T")


async def _eventually(probe: Callable[[], Awaitable[T | None]], within_s: float = 60.0) -> T:
    return await eventually(probe, within_s=within_s, poll_s=0.2)


async def _get(http: aiohttp.ClientSession, url: str, *, ca: str | None = None) -> Any:
    ssl: Any = _ssl.create_default_context(cafile=ca) if ca else None  # the ARM simulator's own CA
    async with http.get(url, ssl=ssl) as response:
        return await response.json()


async def _create_job(http: aiohttp.ClientSession, served: ServeProcess, **spec: Any) -> dict[str, Any]:
    async with http.post(f"{served.gitlab}/_sim/jobs", json=spec) as response:
        assert response.status == 201
        job: dict[str, Any] = await response.json()
        return job


def _signed_hook(body: bytes, *, token: str = E2E_GITLAB_TOKEN, sign: bool = True) -> dict[str, str]:
    headers = {
        "X-Gitlab-Event": "Job Hook",
        "X-Gitlab-Token": token,
        "Idempotency-Key": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    if sign:
        ts, msg = str(int(time.time())), f"msg_{uuid.uuid4().hex}"
        signature = standard_webhooks_signature(standard_webhooks_key(E2E_GITLAB_SIGNING), msg, ts, body)
        headers |= {"webhook-id": msg, "webhook-timestamp": ts, "webhook-signature": signature}
    return headers


async def test_a_gitlab_job_runs_on_a_fresh_vm_and_everything_is_removed(
    served: ServeProcess, http: aiohttp.ClientSession
) -> None:
    """A tagged GitLab job gets a runner VM, succeeds on it, and leaves no VM and no GitLab runner.

    The runner's registration (whose token could take further jobs) is deleted while its job still
    runs, and the job finishes all the same.
    """
    job = await _create_job(
        http, served, project_id=DEMO_GITLAB_PROJECT_ID, tags=["aks-prod"], duration_s=120
    )

    async def finished() -> dict[str, Any] | None:
        current = next(j for j in await _get(http, f"{served.gitlab}/_sim/jobs") if j["id"] == job["id"])
        return current if current["status"] in {"success", "failed"} else None

    done = await _eventually(finished)
    assert done["status"] == "success"
    runners = {r["id"]: r for r in await _get(http, f"{served.gitlab}/_sim/runners")}
    runner = runners[done["runner_id"]]
    assert runner["description"].startswith("rf-gl-aks-")
    assert runner["tag_list"] == ["aks-prod", "deploy"] and runner["run_untagged"] is False

    async def cleaned() -> bool:
        runners = {r["id"]: r for r in await _get(http, f"{served.gitlab}/_sim/runners")}
        vms = (await _get(http, f"{served.arm}/_sim/vms", ca=served.ready["arm_ca_bundle"]))["value"]
        return bool(runners[done["runner_id"]]["deleted"]) and runner["description"] not in {
            v["name"] for v in vms
        }

    await _eventually(cleaned)
    runner = {r["id"]: r for r in await _get(http, f"{served.gitlab}/_sim/runners")}[done["runner_id"]]
    assert done["started_at"] < runner["deleted_at"] < done["finished_at"]


async def test_jobs_no_pool_serves_stay_pending_and_untouched(
    served: ServeProcess, http: aiohttp.ClientSession
) -> None:
    """A job with a tag no pool has, and a job outside the pool's group, stay pending with no runner."""
    gpu = await _create_job(http, served, project_id=DEMO_GITLAB_PROJECT_ID, tags=["gpu-h100"])
    outside = await _create_job(http, served, project_id=DEMO_GITLAB_OTHER_PROJECT_ID, tags=["aks-prod"])

    async def both_judged() -> bool:
        # The positive sign: the provision step looked each job up and decided no pool serves it.
        return all(served.events("provision.not_needed", job_id=job["id"]) for job in (gpu, outside))

    await _eventually(both_judged)
    jobs = {j["id"]: j for j in await _get(http, f"{served.gitlab}/_sim/jobs")}
    for job in (gpu, outside):
        assert jobs[job["id"]]["status"] == "pending"
        assert jobs[job["id"]]["runner_id"] is None
    described = [r["description"] for r in await _get(http, f"{served.gitlab}/_sim/runners")]
    assert all(str(job["id"]) not in d for d in described for job in (gpu, outside))


async def test_gitlab_contract_errors(served: ServeProcess, http: aiohttp.ClientSession) -> None:
    """Wrong token 401; unsigned while signing is configured 401; signed garbage 400; other hooks 200."""
    body = json.dumps(gitlab_event("job_hook.created.json")).encode()
    url = f"{served.url}/api/gitlab"
    async with http.post(url, data=body, headers=_signed_hook(body, token="nope")) as response:
        assert response.status == 401
    async with http.post(url, data=body, headers=_signed_hook(body, sign=False)) as response:
        assert response.status == 401
    async with http.post(url, data=b"{oops", headers=_signed_hook(b"{oops")) as response:
        assert response.status == 400
    headers = _signed_hook(body) | {"X-Gitlab-Event": "Pipeline Hook"}
    async with http.post(url, data=body, headers=headers) as response:
        assert response.status == 200
    async with http.post(url, data=body, headers=_signed_hook(body)) as response:
        assert response.status == 200
