"""JSON bodies in the shapes GitHub's REST API and webhooks document (the fields PyGithub reads)."""

from __future__ import annotations

import base64
import json
from typing import Any

from simulator.github.config import Account, GitHubSimConfig, Repository
from simulator.github.directory import Directory, Installation
from simulator.github.model import Job, Runner, WorkflowRun
from simulator.github.webhooks import AppDelivery, Hook
from simulator.http import utc_time


def node_id(prefix: str, number: int) -> str:
    return prefix + base64.b64encode(f"{prefix}{number}".encode()).decode().rstrip("=")


APP_PERMISSIONS = {
    "actions": "read",
    "administration": "write",
    "metadata": "read",
    "organization_self_hosted_runners": "write",
}
APP_EVENTS = ["workflow_job"]
APP_CREATED_AT = 1_700_000_000.0


def account_json(base: str, account: Account) -> dict[str, Any]:
    kind = "users" if account.type == "User" else "orgs"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id("O_" if account.type == "Organization" else "U_", account.id),
        "avatar_url": f"{base}/avatars/{account.login}",
        "url": f"{base}/{kind}/{account.login}",
        "html_url": f"{base}/{account.login}",
        "repos_url": f"{base}/{kind}/{account.login}/repos",
        "type": account.type,
        "site_admin": False,
    }


def org_json(base: str, account: Account, repo_count: int) -> dict[str, Any]:
    url = f"{base}/orgs/{account.login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id("O_", account.id),
        "url": url,
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events",
        "hooks_url": f"{url}/hooks",
        "issues_url": f"{url}/issues",
        "members_url": f"{url}/members{{/member}}",
        "public_members_url": f"{url}/public_members{{/member}}",
        "avatar_url": f"{base}/avatars/{account.login}",
        "description": None,
        "name": account.login,
        "html_url": f"{base}/{account.login}",
        "type": "Organization",
        "public_repos": repo_count,
        "created_at": utc_time(APP_CREATED_AT),
        "updated_at": utc_time(APP_CREATED_AT),
    }


def repo_json(base: str, repo: Repository, owner: Account) -> dict[str, Any]:
    url = f"{base}/repos/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": node_id("R_", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "owner": account_json(base, owner),
        "html_url": f"{base}/{repo.full_name}",
        "description": None,
        "fork": False,
        "url": url,
        "hooks_url": f"{url}/hooks",
        "default_branch": repo.default_branch,
        "archived": False,
        "disabled": False,
        "created_at": utc_time(APP_CREATED_AT),
        "updated_at": utc_time(APP_CREATED_AT),
        "pushed_at": utc_time(APP_CREATED_AT),
    }


def app_json(base: str, config: GitHubSimConfig, owner: Account, installations: int) -> dict[str, Any]:
    return {
        "id": config.app_id,
        "slug": config.app_slug,
        "node_id": node_id("A_", config.app_id),
        "client_id": f"Iv1.{config.app_id:016x}",
        "owner": account_json(base, owner),
        "name": config.app_slug,
        "description": "",
        "external_url": f"{base}/apps/{config.app_slug}",
        "html_url": f"{base}/apps/{config.app_slug}",
        "created_at": utc_time(APP_CREATED_AT),
        "updated_at": utc_time(APP_CREATED_AT),
        "permissions": APP_PERMISSIONS,
        "events": APP_EVENTS,
        "installations_count": installations,
    }


def installation_json(base: str, config: GitHubSimConfig, inst: Installation) -> dict[str, Any]:
    return {
        "id": inst.id,
        "account": account_json(base, inst.account),
        "repository_selection": "all",
        "access_tokens_url": f"{base}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{base}/installation/repositories",
        "html_url": f"{base}/organizations/{inst.account.login}/settings/installations/{inst.id}",
        "app_id": config.app_id,
        "app_slug": config.app_slug,
        "client_id": f"Iv1.{config.app_id:016x}",
        "target_id": inst.account.id,
        "target_type": inst.account.type,
        "permissions": APP_PERMISSIONS,
        "events": APP_EVENTS,
        "created_at": utc_time(APP_CREATED_AT),
        "updated_at": utc_time(APP_CREATED_AT),
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }


def runner_json(runner: Runner, now: float) -> dict[str, Any]:
    """A runner as the REST API shows it at `now` (epoch seconds): `busy` lags the assignment."""
    return {
        "id": runner.id,
        "name": runner.name,
        "os": runner.os,
        "status": "online" if runner.online else "offline",
        "busy": runner.reported_busy(now),
        "ephemeral": True,
        "runner_group_id": runner.runner_group_id,
        "labels": [
            {"id": label_id, "name": label, "type": "custom"}
            for label_id, label in zip(runner.label_ids, runner.labels, strict=True)
        ],
    }


def _steps(job: Job) -> list[dict[str, Any]]:
    if job.started_at is None:
        return []
    if job.status == "in_progress":
        return [_step(1, "Set up job", "in_progress", None, (job.started_at, None))]
    start, end = job.started_at, job.completed_at
    return [
        _step(1, "Set up job", "completed", "success", (start, start)),
        _step(2, f"Run {job.name}", "completed", job.conclusion, (start, end)),
        _step(3, "Complete job", "completed", "success", (end, end)),
    ]


def _step(
    number: int, name: str, status: str, conclusion: str | None, span: tuple[float | None, float | None]
) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "conclusion": conclusion,
        "number": number,
        "started_at": utc_time(span[0]),
        "completed_at": utc_time(span[1]),
    }


def job_json(base: str, job: Job) -> dict[str, Any]:
    repo_url = f"{base}/repos/{job.owner}/{job.repo}"
    return {
        "id": job.id,
        "run_id": job.run.id,
        "workflow_name": job.run.name,
        "head_branch": job.run.head_branch,
        "run_url": f"{repo_url}/actions/runs/{job.run.id}",
        "run_attempt": 1,
        "node_id": node_id("CR_", job.id),
        "head_sha": job.run.head_sha,
        "url": f"{repo_url}/actions/jobs/{job.id}",
        "html_url": f"{base}/{job.owner}/{job.repo}/actions/runs/{job.run.id}/job/{job.id}",
        "status": job.status,
        "conclusion": job.conclusion,
        "created_at": utc_time(job.queued_at),
        # GitHub fills started_at even for jobs that have not started yet, with the creation time.
        "started_at": utc_time(job.started_at if job.started_at is not None else job.queued_at),
        "completed_at": utc_time(job.completed_at),
        "name": job.name,
        "steps": _steps(job),
        "check_run_url": f"{repo_url}/check-runs/{job.id}",
        "labels": list(job.labels),
        "runner_id": job.runner_id,
        "runner_name": job.runner_name,
        "runner_group_id": job.runner_group_id,
        "runner_group_name": job.runner_group_name,
    }


def run_state(jobs: list[Job]) -> tuple[str, str | None]:
    statuses = {job.status for job in jobs}
    if statuses == {"completed"}:
        conclusions = {job.conclusion for job in jobs}
        return "completed", "cancelled" if "cancelled" in conclusions else "success"
    for status in ("in_progress", "queued", "waiting"):
        if status in statuses:
            return status, None
    return "queued", None


def fork_json(base: str, full_name: str) -> dict[str, Any]:
    """The head repository of a pull request from a fork: a public fork, outside the directory."""
    owner, name = full_name.split("/", 1)
    ident = 900_000_000 + sum(ord(c) for c in full_name)  # stable per name, unlike hash()
    fork = repo_json(base, Repository(owner, name, ident, private=False), Account(owner, ident, "User"))
    return fork | {"fork": True}


def run_json(base: str, run: WorkflowRun, jobs: list[Job], repository: dict[str, Any]) -> dict[str, Any]:
    repo_url = f"{base}/repos/{run.owner}/{run.repo}"
    url = f"{repo_url}/actions/runs/{run.id}"
    status, conclusion = run_state(jobs)
    stamps = [run.created_at] + [
        t for job in jobs for t in (job.started_at, job.completed_at) if t is not None
    ]
    started = [job.started_at for job in jobs if job.started_at is not None]
    return {
        "id": run.id,
        "name": run.name,
        "node_id": node_id("WFR_", run.id),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": run.path,
        "display_title": run.name,
        "run_number": run.run_number,
        "event": run.event,
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 1,
        "check_suite_id": run.id,
        "url": url,
        "html_url": f"{base}/{run.owner}/{run.repo}/actions/runs/{run.id}",
        "jobs_url": f"{url}/jobs",
        "logs_url": f"{url}/logs",
        "check_suite_url": f"{repo_url}/check-suites/{run.id}",
        "artifacts_url": f"{url}/artifacts",
        "cancel_url": f"{url}/cancel",
        "rerun_url": f"{url}/rerun",
        "workflow_url": f"{repo_url}/actions/workflows/1",
        "pull_requests": [],
        "created_at": utc_time(run.created_at),
        "updated_at": utc_time(max(stamps)),
        "run_attempt": 1,
        "run_started_at": utc_time(min(started) if started else run.created_at),
        "repository": repository,
        # GitHub lists no pull request for a run whose head is in a fork.
        "head_repository": fork_json(base, run.head_repository)
        if run.from_fork and run.head_repository is not None
        else repository,
    }


def workflow_job_payload(
    base: str, action: str, job: Job, directory: Directory, config: GitHubSimConfig
) -> dict[str, Any]:
    repo = directory.repo(job.owner, job.repo)
    owner = directory.account(repo.owner)
    payload: dict[str, Any] = {
        "action": action,
        "workflow_job": job_json(base, job),
        "repository": repo_json(base, repo, owner),
        "sender": account_json(base, config.sender),
    }
    if owner.type == "Organization":
        payload["organization"] = account_json(base, owner)
    inst = directory.installation_for(owner.login)
    if inst is not None:
        payload["installation"] = {
            "id": inst.id,
            "node_id": node_id("MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u", inst.id),
        }
    return payload


def ping_payload(base: str, hook: Hook, config: GitHubSimConfig) -> dict[str, Any]:
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": hook.id,
        "hook": {
            "type": "App",
            "id": hook.id,
            "name": "web",
            "active": True,
            "events": sorted(hook.events),
            "config": {"content_type": "json", "insecure_ssl": "0", "url": hook.url},
            "app_id": config.app_id,
            "created_at": utc_time(APP_CREATED_AT),
            "updated_at": utc_time(APP_CREATED_AT),
        },
    }


def delivery_summary_json(delivery: AppDelivery) -> dict[str, Any]:
    sent = delivery.outgoing
    return {
        "id": delivery.id,
        "guid": sent.guid,
        "delivered_at": utc_time(delivery.delivered_at),
        "redelivery": sent.redelivery,
        "duration": delivery.duration,
        "status": delivery.result.status,
        "status_code": delivery.result.status_code,
        "event": sent.event,
        "action": sent.action,
        "installation_id": sent.installation_id,
        "repository_id": sent.repository_id,
        "throttled_at": None,
    }


def delivery_detail_json(delivery: AppDelivery) -> dict[str, Any]:
    answer = delivery.result
    try:
        response_payload: Any = json.loads(answer.body) if answer.body else None
    except ValueError:
        response_payload = answer.body
    return {
        **delivery_summary_json(delivery),
        "url": delivery.outgoing.hook.url,
        "request": {
            "headers": dict(delivery.request_headers),
            "payload": json.loads(delivery.outgoing.body),
        },
        "response": {"headers": dict(answer.headers), "payload": response_payload},
    }
