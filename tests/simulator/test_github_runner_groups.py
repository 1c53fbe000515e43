"""Runner groups in the simulated GitHub: what the REST API says of them, whose jobs their runners take."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from github import GithubException

from simulator.github import GitHubSimulator, Repository, RunnerGroup, testing

pytest_plugins = ["github_fixtures"]

REPOSITORIES = (
    Repository("acme", "web", 700001),
    Repository("acme", "api", 700002),
    Repository("acme", "site", 700004, private=False),
    Repository("octocat", "hello-world", 700003, private=False),
)
DEPLOY = "acme/web/.github/workflows/deploy.yml@refs/heads/main"
GROUPS = (
    RunnerGroup(2, "web-only", visibility="selected", selected_repositories=("acme/web",)),
    RunnerGroup(3, "org-wide"),
    RunnerGroup(4, "with-public", allows_public_repositories=True),
    RunnerGroup(5, "deploys", restricted_to_workflows=True, selected_workflows=(DEPLOY,)),
    RunnerGroup(6, "private-only", visibility="private", allows_public_repositories=True),
)


@pytest.fixture
def sim(make_github_sim: testing.SimulatorFactory) -> GitHubSimulator:
    return make_github_sim(repositories=REPOSITORIES, runner_groups=GROUPS)


def _get(sim: GitHubSimulator, path: str, **parameters: Any) -> Any:
    client = testing.static_client(sim)
    _, data = client.requester.requestJsonAndCheck("GET", path, parameters=parameters or None)
    return data


def _job(sim: GitHubSimulator, job_id: int) -> dict[str, Any]:
    return next(j for j in sim.jobs() if j["id"] == job_id)


async def _connect(
    session: aiohttp.ClientSession, sim: GitHubSimulator, name: str, group: int
) -> testing.RunnerGuest:
    guest = testing.RunnerGuest(
        session, testing.org_jit_config(sim, name, ["self-hosted", "deploy"], group=group)
    )
    assert (await guest.connect())[0] == 200
    return guest


def test_a_runner_group_reads_as_github_documents_it(sim: GitHubSimulator) -> None:
    """Rule github.runner-group.routes: id, name, visibility, public flag and workflow restriction."""
    group = _get(sim, "/orgs/acme/actions/runner-groups/2")
    assert {k: group[k] for k in ("id", "name", "visibility", "default", "allows_public_repositories")} == {
        "id": 2,
        "name": "web-only",
        "visibility": "selected",
        "default": False,
        "allows_public_repositories": False,
    }
    assert (group["restricted_to_workflows"], group["selected_workflows"]) == (False, [])
    assert group["selected_repositories_url"].endswith("/orgs/acme/actions/runner-groups/2/repositories")
    default = _get(sim, "/orgs/acme/actions/runner-groups/1")
    assert (default["name"], default["visibility"], default["default"]) == ("Default", "all", True)
    assert "selected_repositories_url" not in default
    assert _get(sim, "/orgs/acme/actions/runner-groups/5")["selected_workflows"] == [DEPLOY]
    listed = _get(sim, "/orgs/acme/actions/runner-groups")
    assert [g["id"] for g in listed["runner_groups"]] == [1, 2, 3, 4, 5, 6]


def test_a_selected_groups_repositories_are_listed(sim: GitHubSimulator) -> None:
    """Rule github.runner-group.routes: `.../repositories` lists a selected group's repositories."""
    selected = _get(sim, "/orgs/acme/actions/runner-groups/2/repositories", per_page=100)
    assert (selected["total_count"], [r["full_name"] for r in selected["repositories"]]) == (1, ["acme/web"])


def test_an_unknown_group_or_another_accounts_group_is_404(sim: GitHubSimulator) -> None:
    """Rule github.runner-group.routes: an unknown group, or another account's token, gets 404."""
    with pytest.raises(GithubException) as unknown:
        _get(sim, "/orgs/acme/actions/runner-groups/77")
    assert unknown.value.status == 404
    other = testing.installation_client(sim, "octocat")
    with pytest.raises(GithubException) as hidden:
        other.requester.requestJsonAndCheck("GET", "/orgs/acme/actions/runner-groups/2")
    assert hidden.value.status == 404


async def test_a_selected_groups_runner_takes_only_its_repositories_jobs(
    sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.runner-group.visibility: a selected group's runner leaves other repositories' jobs."""
    other = sim.queue_job("acme", "api", ["self-hosted", "deploy"], duration_s=3600)
    guest = await _connect(http_session, sim, "web-vm", 2)
    assert (await guest.status())["status"] == "idle"
    mine = sim.queue_job("acme", "web", ["self-hosted", "deploy"], duration_s=3600)
    assert (await guest.wait_for_status("busy"))["job_id"] == mine["id"]
    assert _job(sim, other["id"])["status"] == "queued"
    org_wide = await _connect(http_session, sim, "org-vm", 3)
    assert (await org_wide.wait_for_status("busy"))["job_id"] == other["id"]
    for job in (other, mine):
        sim.cancel_job(job["id"])


async def test_public_repositories_jobs_go_only_to_groups_that_allow_them(
    sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.runner-group.public: a public repository's job goes only to groups allowing them."""
    public = sim.queue_job("acme", "site", ["self-hosted", "deploy"], duration_s=3600)
    closed = await _connect(http_session, sim, "closed-vm", 3)
    private_only = await _connect(http_session, sim, "private-vm", 6)
    assert (await closed.status())["status"] == "idle"
    assert (await private_only.status())["status"] == "idle"
    opened = await _connect(http_session, sim, "open-vm", 4)
    assert (await opened.wait_for_status("busy"))["job_id"] == public["id"]
    sim.cancel_job(public["id"])


async def test_a_group_restricted_to_workflows_takes_only_their_jobs(
    sim: GitHubSimulator, http_session: aiohttp.ClientSession
) -> None:
    """Rule github.runner-group.workflows: a restricted group's runner takes only its workflows' jobs."""
    ci = sim.queue_job("acme", "web", ["self-hosted", "deploy"], duration_s=3600)
    guest = await _connect(http_session, sim, "deploy-vm", 5)
    assert (await guest.status())["status"] == "idle"
    deploy = sim.queue_job(
        "acme",
        "web",
        ["self-hosted", "deploy"],
        duration_s=3600,
        workflow_path=".github/workflows/deploy.yml",
    )
    assert (await guest.wait_for_status("busy"))["job_id"] == deploy["id"]
    assert _job(sim, ci["id"])["status"] == "queued"
    for job in (ci, deploy):
        sim.cancel_job(job["id"])


async def test_a_fork_pull_request_run_names_the_fork_and_a_public_repository_says_so(
    sim: GitHubSimulator, hook_receiver: testing.HookReceiver
) -> None:
    """Rule github.runs.fork-pull-request: the run has event pull_request and the fork as head repository."""
    sim.add_webhook(hook_receiver.url, "")
    job = sim.queue_job(
        "acme",
        "site",
        ["self-hosted"],
        event="pull_request",
        head_repository="mallory/site",
        head_branch="patch-1",
    )
    run = _get(sim, f"/repos/acme/site/actions/runs/{job['run_id']}")
    assert (run["event"], run["head_branch"], run["pull_requests"]) == ("pull_request", "patch-1", [])
    assert (run["head_repository"]["full_name"], run["head_repository"]["fork"]) == ("mallory/site", True)
    assert (run["repository"]["full_name"], run["repository"]["private"]) == ("acme/site", False)
    await hook_receiver.wait_for_actions(job["id"], 1)
    queued = hook_receiver.for_job(job["id"])[0]
    repository = queued.payload["repository"]
    assert (repository["private"], repository["visibility"]) == (False, "public")
    assert queued.payload["workflow_job"]["head_branch"] == "patch-1"
    push = sim.queue_job("acme", "web", ["self-hosted"])
    same = _get(sim, f"/repos/acme/web/actions/runs/{push['run_id']}")
    assert (same["event"], same["head_repository"]["full_name"]) == ("push", "acme/web")
    for started in (job, push):
        sim.cancel_job(started["id"])
