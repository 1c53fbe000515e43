"""A runner VM booted in the ARM simulator with GitLab cloud-init user data plays
`gitlab-runner run-single`: it takes the job its tags fit, runs it, and powers off."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import gitlab
import pytest
from azure.mgmt.compute.aio import ComputeManagementClient
from gitlab.v4.objects import CurrentUserRunnerManager

from simulator.arm import ArmSimulator
from simulator.arm.guest import guest_for, register_guest, unregister_guest
from simulator.arm.guest.gitlab import GitLabGuest
from simulator.arm.samples import runner_json, runner_user_data, runner_vm_body
from simulator.gitlab import GitLabSimulator
from simulator.gitlab.testing import HookReceiver
from simulator.testing import wait_until

pytest_plugins = ["gitlab_fixtures"]


def _user_runners(gl: gitlab.Gitlab) -> CurrentUserRunnerManager:
    assert gl.user is not None, "gl.auth() sets the current user"
    return gl.user.runners


RG = "rg-runners"


@pytest.fixture
def gitlab_guest() -> Iterator[None]:
    """The GitLab guest, registered for forge "gitlab" unless the guest package already does."""
    added = guest_for("gitlab") is None
    if added:
        register_guest("gitlab", GitLabGuest())
    yield
    if added:
        unregister_guest("gitlab")


def _user_data(name: str, forge_url: str, token: str, *, wait_timeout_s: int = 600) -> str:
    document = runner_json(name, forge="gitlab", pool="deploy", forge_url=forge_url)
    return runner_user_data({**document, "wait_timeout_s": wait_timeout_s}, token)


async def _boot(compute: ComputeManagementClient, name: str, custom_data: str) -> None:
    # The request body as the service sends it: JSON, not an SDK model.
    body = io.BytesIO(json.dumps(runner_vm_body(name, custom_data=custom_data)).encode())
    poller = await compute.virtual_machines.begin_create_or_update(RG, name, body)
    await poller.result()


async def _powered_off(sim: ArmSimulator, name: str) -> dict[str, Any]:
    await wait_until(lambda: (sim.vm(name) or {}).get("power_state") == "stopped", within_s=10)
    vm = sim.vm(name)
    assert vm is not None
    return vm


def _register(gl: gitlab.Gitlab, tags: list[str]) -> tuple[int, str]:
    created = _user_runners(gl).create(
        {"runner_type": "group_type", "group_id": 100, "tag_list": tags, "run_untagged": False}
    )
    return int(created.id), str(created.token)


@pytest.mark.usefixtures("gitlab_guest")
async def test_vm_runs_its_gitlab_job_and_powers_off(
    sim: ArmSimulator,
    compute: ComputeManagementClient,
    gl: gitlab.Gitlab,
    gitlab_sim: GitLabSimulator,
    gitlab_hook_receiver: HookReceiver,
) -> None:
    """The VM verifies its glrt- token, runs the one matching job to success, then stops."""
    gitlab_sim.add_webhook(gitlab_hook_receiver.url, "hook-token", scope=("group", 100))
    job = gitlab_sim.create_job(1001, ["deploy", "aks-prod"], duration_s=2.0)
    runner_id, token = await asyncio.to_thread(_register, gl, ["deploy", "aks-prod"])

    await _boot(compute, "vm-gl-1", _user_data("vm-gl-1", gitlab_sim.base_url, token))

    vm = await _powered_off(sim, "vm-gl-1")
    assert vm["guest_state"] == "exited"
    assert vm["runner"]["runner_id"] == runner_id
    assert (vm["runner"]["status"], vm["runner"]["job_id"]) == ("exited", job["id"])
    done = gitlab_sim.job(job["id"])
    assert (done["status"], done["runner_id"]) == ("success", runner_id)
    assert vm["powered_off_at"] >= done["finished_at"]
    statuses = await gitlab_hook_receiver.wait_for_statuses(job["id"], 4)
    assert statuses == ["created", "pending", "running", "success"]
    assert any("received job" in line for line in sim.console("vm-gl-1"))
    assert gitlab_sim.runner(runner_id)["deleted"] is False


@pytest.mark.usefixtures("gitlab_guest")
async def test_vm_without_a_job_exits_after_its_wait_timeout(
    sim: ArmSimulator,
    compute: ComputeManagementClient,
    gl: gitlab.Gitlab,
    gitlab_sim: GitLabSimulator,
) -> None:
    """With no job its tags fit, the runner gives up after wait_timeout_s and the VM powers off."""
    other = gitlab_sim.create_job(1001, ["deploy", "gpu"])
    runner_id, token = await asyncio.to_thread(_register, gl, ["deploy"])

    await _boot(compute, "vm-gl-2", _user_data("vm-gl-2", gitlab_sim.base_url, token, wait_timeout_s=5))

    vm = await _powered_off(sim, "vm-gl-2")
    assert vm["runner"]["job_id"] is None
    assert any("wait timeout" in line for line in sim.console("vm-gl-2"))
    assert gitlab_sim.job(other["id"])["status"] == "pending"
    assert gitlab_sim.runner(runner_id)["jobs_taken"] == 0


@pytest.mark.usefixtures("gitlab_guest")
async def test_vm_asks_for_a_job_every_check_interval(
    sim: ArmSimulator,
    compute: ComputeManagementClient,
    gl: gitlab.Gitlab,
    gitlab_sim: GitLabSimulator,
) -> None:
    """Rule gitlab.runner.check-interval: run-single asks for a job every 3 s (CheckInterval), not faster."""
    runner_id, token = await asyncio.to_thread(_register, gl, ["deploy"])

    await _boot(compute, "vm-gl-ci", _user_data("vm-gl-ci", gitlab_sim.base_url, token, wait_timeout_s=10))

    await _powered_off(sim, "vm-gl-ci")
    # Requests at 0, 3, 6 and 9 s of its 10 s wait (a slow boot or scheduler may drop the last).
    assert gitlab_sim.stats()["job_requests_empty"] in (3, 4)
    assert gitlab_sim.runner(runner_id)["jobs_taken"] == 0


@pytest.mark.usefixtures("gitlab_guest")
async def test_vm_with_an_unknown_token_keeps_running_and_says_why(
    sim: ArmSimulator,
    compute: ComputeManagementClient,
    gitlab_sim: GitLabSimulator,
) -> None:
    """A token GitLab rejects stops the runner from starting: the console says so and the VM stays up."""
    await _boot(compute, "vm-gl-3", _user_data("vm-gl-3", gitlab_sim.base_url, "glrt-NotARealToken0000"))

    await wait_until(lambda: (sim.vm("vm-gl-3") or {}).get("guest_state") == "failed", within_s=5)

    assert (sim.vm("vm-gl-3") or {}).get("power_state") == "running"
    assert any("token rejected" in line and "403" in line for line in sim.console("vm-gl-3"))
