"""A runner VM that goes away with its runner still running: each forge simulator learns it as its
forge would (the listener's polls stop, the job's updates stop), so no job is handed to the gone
runner and the job it was running does not succeed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import gitlab
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient

from simulator.arm import ArmSimulator
from simulator.arm.samples import runner_json, runner_user_data, runner_vm_body
from simulator.github import GitHubSimulator
from simulator.github.testing import RunnerGuest, SimulatorFactory, org_jit_config
from simulator.gitlab import GitLabSimulator
from simulator.gitlab.testing import SimulatorFactory as GitLabFactory
from simulator.testing import eventually
from tests.simulator.gitlab_fixtures import SERVICE_TOKEN

pytest_plugins = ["github_fixtures", "gitlab_fixtures"]

RG = "rg-runners"
ClientFor = Callable[..., gitlab.Gitlab]


async def _boot(compute: ComputeManagementClient, name: str, custom_data: str) -> None:
    body = cm.VirtualMachine(runner_vm_body(name, custom_data=custom_data))
    await (await compute.virtual_machines.begin_create_or_update(RG, name, body)).result()


async def _delete(compute: ComputeManagementClient, name: str) -> None:
    await (await compute.virtual_machines.begin_delete(RG, name)).result()


def _github_job(sim: GitHubSimulator, job_id: int) -> dict[str, Any]:
    return next(j for j in sim.jobs() if j["id"] == job_id)


def _github_runner(sim: GitHubSimulator, name: str) -> dict[str, Any]:
    return next(r for r in sim.runners() if r["name"] == name)


def _github_user_data(github: GitHubSimulator, name: str, labels: list[str]) -> str:
    document = runner_json(name, forge_url=github.base_url)
    return runner_user_data(document, org_jit_config(github, name, labels))


async def test_a_github_runner_whose_vm_was_deleted_is_handed_no_job(
    sim: ArmSimulator,
    compute: ComputeManagementClient,
    make_github_sim: SimulatorFactory,
    http_session: aiohttp.ClientSession,
) -> None:
    """Rule github.host-lost: the idle runner of a deleted VM goes offline, and a job queued after
    it goes to a runner that is there."""
    github = make_github_sim()
    user_data = await asyncio.to_thread(_github_user_data, github, "vm-idle", ["self-hosted", "x"])
    await _boot(compute, "vm-idle", user_data)
    await eventually(lambda: _github_runner(github, "vm-idle")["status"] == "online", within_s=10)

    await _delete(compute, "vm-idle")

    await eventually(lambda: _github_runner(github, "vm-idle")["status"] == "offline", within_s=10)
    job = github.queue_job("acme", "web", ["self-hosted", "x"], duration_s=3600)
    there = RunnerGuest(http_session, org_jit_config(github, "vm-there", ["self-hosted", "x"]))
    await there.connect()
    assert (await there.wait_for_status("busy"))["job_id"] == job["id"]
    assert _github_job(github, job["id"])["runner_name"] == "vm-there"
    github.cancel_job(job["id"])


async def test_the_github_job_of_a_deleted_runner_vm_fails_when_its_lock_lapses(
    sim: ArmSimulator, compute: ComputeManagementClient, make_github_sim: SimulatorFactory
) -> None:
    """Rule github.host-lost: a job whose runner's VM is deleted under it does not run to success;
    it fails (the runner "lost communication") once its lock lapses."""
    github = make_github_sim(job_lock_s=200.0)
    job = github.queue_job("acme", "web", ["self-hosted"], duration_s=3600)
    user_data = await asyncio.to_thread(_github_user_data, github, "vm-busy", ["self-hosted"])
    await _boot(compute, "vm-busy", user_data)
    await eventually(lambda: _github_job(github, job["id"])["status"] == "in_progress", within_s=10)

    await _delete(compute, "vm-busy")

    def ended() -> dict[str, Any] | None:
        current = _github_job(github, job["id"])
        return current if current["status"] == "completed" else None

    done = await eventually(ended, within_s=10)
    assert (done["conclusion"], done["runner_name"]) == ("failure", "vm-busy")


async def test_the_gitlab_job_of_a_deleted_runner_vm_is_dropped_as_stuck(
    sim: ArmSimulator,
    compute: ComputeManagementClient,
    make_gitlab_sim: GitLabFactory,
    gitlab_client_for: ClientFor,
) -> None:
    """Rule gitlab.host-lost: a job whose runner's VM is deleted under it gets no more updates and
    GitLab drops it as stuck (stuck_or_timeout_failure), never a success."""
    gitlab_sim: GitLabSimulator = make_gitlab_sim(running_outdated_s=200.0)
    client = gitlab_client_for(gitlab_sim, SERVICE_TOKEN.token)

    def register() -> str:
        client.auth()
        assert client.user is not None
        attributes = {"runner_type": "group_type", "group_id": 100, "tag_list": ["deploy"]}
        return str(client.user.runners.create(attributes).token)

    token = await asyncio.to_thread(register)
    job = gitlab_sim.create_job(1001, ["deploy"], duration_s=3600)
    document = runner_json("vm-gl", forge="gitlab", pool="deploy", forge_url=gitlab_sim.base_url)
    await _boot(compute, "vm-gl", runner_user_data(document, token))
    await eventually(lambda: gitlab_sim.job(job["id"])["status"] == "running", within_s=10)

    await _delete(compute, "vm-gl")

    def ended() -> dict[str, Any] | None:
        current = gitlab_sim.job(job["id"])
        return current if current["status"] not in ("pending", "running") else None

    done = await eventually(ended, within_s=10)
    assert (done["status"], done["failure_reason"]) == ("failed", "stuck_or_timeout_failure")
