"""Jobs through the real python-gitlab: the tag list lives on the job, and `scope` filters by status."""

from __future__ import annotations

import gitlab
import pytest
import requests

from simulator.gitlab import GitLabSimulator

pytest_plugins = ["gitlab_fixtures"]


def test_job_carries_its_tag_list(gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator) -> None:
    """gl.projects.get(id).jobs.get(job_id).tag_list is the job's tags; runner is null while pending."""
    created = gitlab_sim.create_job(1001, ["deploy", "aks-prod"], name="release", stage="ship")

    job = gl.projects.get(1001).jobs.get(created["id"])

    assert job.tag_list == ["deploy", "aks-prod"]
    assert (job.name, job.stage, job.status) == ("release", "ship", "pending")
    assert job.runner is None
    assert job.pipeline["id"] == created["pipeline_id"]
    assert job.web_url == f"{gitlab_sim.base_url}/acme/web/-/jobs/{created['id']}"
    assert job.project_id == 1001
    assert job.user["username"] == "deployer"
    assert job.created_at.endswith("Z") and job.started_at is None and job.finished_at is None


def test_job_is_found_only_in_its_own_project(gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator) -> None:
    """A job id asked for under another project is 404, as is an unknown job."""
    created = gitlab_sim.create_job(1001, ["deploy"])
    with pytest.raises(gitlab.GitlabGetError) as elsewhere:
        gl.projects.get(1002, lazy=True).jobs.get(created["id"])
    with pytest.raises(gitlab.GitlabGetError) as unknown:
        gl.projects.get(1001, lazy=True).jobs.get(1)
    assert elsewhere.value.response_code == unknown.value.response_code == 404


def test_pending_scope_lists_only_pending_jobs(gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator) -> None:
    """project.jobs.list(scope=["pending"]) returns the pending jobs only, newest first."""
    first = gitlab_sim.create_job(1001, ["deploy"])
    second = gitlab_sim.create_job(1001, ["deploy", "gpu"])
    canceled = gitlab_sim.create_job(1001, ["deploy"])
    gitlab_sim.create_job(1002, ["deploy"])
    gitlab_sim.cancel_job(canceled["id"])
    project = gl.projects.get(1001)

    pending = project.jobs.list(scope=["pending"], get_all=True)

    assert [j.id for j in pending] == [second["id"], first["id"]]
    assert {j.status for j in pending} == {"pending"}
    assert [j.id for j in project.jobs.list(scope="canceled", get_all=True)] == [canceled["id"]]
    both = project.jobs.list(scope=["pending", "canceled"], get_all=True)
    assert len(both) == 3
    assert len(project.jobs.list(get_all=True)) == 3


def test_scope_may_be_given_plainly_and_must_be_a_status(gitlab_sim: GitLabSimulator) -> None:
    """`scope=pending` works like `scope[]=pending`; an unknown scope is 400."""
    gitlab_sim.create_job("acme/web", ["deploy"])
    headers = {"PRIVATE-TOKEN": gitlab_sim.token}
    url = f"{gitlab_sim.api_url}/projects/acme%2Fweb/jobs"

    plain = requests.get(url, params={"scope": "pending"}, headers=headers, timeout=5)
    bad = requests.get(url, params={"scope[]": "sleeping"}, headers=headers, timeout=5)

    assert plain.status_code == 200 and len(plain.json()) == 1
    assert plain.headers["X-Total"] == "1"
    assert (bad.status_code, bad.json()) == (400, {"error": "scope does not have a valid value"})


def test_jobs_need_a_read_scope(gitlab_sim: GitLabSimulator, gitlab_tokens: dict[str, str]) -> None:
    """Reading jobs needs read_api (or api); cancelling through the API needs api."""
    created = gitlab_sim.create_job(1001, ["deploy"])
    headers = {"PRIVATE-TOKEN": gitlab_tokens["read_only"]}
    job_url = f"{gitlab_sim.api_url}/projects/1001/jobs/{created['id']}"

    assert requests.get(job_url, headers=headers, timeout=5).status_code == 200
    assert requests.post(f"{job_url}/cancel", headers=headers, timeout=5).status_code == 403
    admin = {"PRIVATE-TOKEN": gitlab_tokens["admin"]}
    canceled = requests.post(f"{job_url}/cancel", headers=admin, timeout=5)
    assert (canceled.status_code, canceled.json()["status"]) == (201, "canceled")
