"""The Job Hook payload (`object_kind: "build"`), shaped as GitLab documents it for job events.

The payload carries no job tag list: `runner.tags` are the runner's tags, and `runner` is null
until a runner has taken the job, and again once that runner has been deleted (GitLab builds
the payload from `build.runner`, which is nil for a deleted runner). Receivers read `tag_list`
from the jobs API instead.
"""

from __future__ import annotations

from typing import Any

from simulator.gitlab.ci import CiService
from simulator.gitlab.config import GitLabSimConfig
from simulator.gitlab.directory import Directory
from simulator.gitlab.model import Job
from simulator.gitlab.representations import VISIBILITY_LEVELS, Representer, duration, hook_time
from simulator.http import utc_time

DEPLOYMENT_TIERS = ("production", "staging", "testing", "development")


def job_hook_payload(
    job: Job,
    *,
    now: float,
    config: GitLabSimConfig,
    directory: Directory,
    ci: CiService,
    urls: Representer,
) -> dict[str, Any]:
    project = directory.project(job.project_id)
    group = directory.group_of(project)
    user = directory.user(config.job_username)
    pipeline = job.pipeline
    runner = ci.registered_runner(job.runner_id) if job.status not in ("created", "pending") else None
    took = duration(job.started_at, job.finished_at, 6)
    queued_end = job.started_at if job.started_at is not None else (None if job.finished else now)
    payload: dict[str, Any] = {
        "object_kind": "build",
        "ref": pipeline.ref,
        "tag": False,
        "before_sha": pipeline.before_sha,
        "sha": pipeline.sha,
        "retries_count": 0,
        "build_id": job.id,
        "build_name": job.name,
        "build_stage": job.stage,
        "build_status": job.status,
        "build_created_at": hook_time(job.created_at),
        "build_started_at": hook_time(job.started_at),
        "build_finished_at": hook_time(job.finished_at),
        "build_created_at_iso": utc_time(job.created_at),
        "build_started_at_iso": utc_time(job.started_at),
        "build_finished_at_iso": utc_time(job.finished_at),
        "build_duration": took,
        "build_queued_duration": duration(job.queued_at, queued_end, 6),
        "build_allow_failure": False,
        "build_failure_reason": job.failure_reason,
        "pipeline_id": pipeline.id,
        "runner": None
        if runner is None
        else {
            "id": runner.id,
            "description": runner.description,
            "runner_type": runner.runner_type,
            "active": not runner.paused,
            "is_shared": runner.is_shared,
            "tags": list(runner.tags),
        },
        "project_id": project.id,
        "project_name": f"{directory.full_name(group)} / {project.display_name}",
        "user": {
            "id": user.id,
            "name": user.name,
            "username": user.username,
            "avatar_url": None,
            "email": user.email,
        },
        "commit": {
            # GitLab puts the pipeline id here, not the commit's.
            "id": pipeline.id,
            "name": None,
            "sha": pipeline.sha,
            "message": f"Deploy {project.path}\n",
            "author_name": user.name,
            "author_email": user.email,
            "author_url": urls.user_url(user),
            "status": job.status,
            "duration": None if took is None else int(took),
            "started_at": hook_time(job.started_at),
            "finished_at": hook_time(job.finished_at),
            "started_at_iso": utc_time(job.started_at),
            "finished_at_iso": utc_time(job.finished_at),
        },
        "repository": {
            "name": project.display_name,
            "url": urls.git_ssh_url(project),
            "description": project.description,
            "homepage": urls.project_url(project),
            "git_http_url": urls.git_http_url(project),
            "git_ssh_url": urls.git_ssh_url(project),
            "visibility_level": VISIBILITY_LEVELS[project.visibility],
        },
        "project": {
            "id": project.id,
            "name": project.display_name,
            "description": project.description,
            "web_url": urls.project_url(project),
            "avatar_url": None,
            "git_ssh_url": urls.git_ssh_url(project),
            "git_http_url": urls.git_http_url(project),
            "namespace": group.display_name,
            "visibility_level": VISIBILITY_LEVELS[project.visibility],
            "path_with_namespace": project.path_with_namespace,
            "default_branch": project.default_branch,
            "ci_config_path": "",
        },
        "environment": None if job.environment is None else _environment(job.environment),
    }
    upstream = pipeline.source_pipeline
    if upstream is not None:
        source_project = directory.project(int(upstream["project_id"]))
        payload["source_pipeline"] = {
            "project": {
                "id": source_project.id,
                "web_url": urls.project_url(source_project),
                "path_with_namespace": source_project.path_with_namespace,
            },
            "pipeline_id": upstream.get("pipeline_id"),
            "job_id": upstream.get("job_id"),
        }
    return payload


def _environment(name: str) -> dict[str, Any]:
    lowered = name.lower()
    tier = next((t for t in DEPLOYMENT_TIERS if lowered.startswith(t[:4])), "other")
    return {"name": name, "action": "start", "deployment_tier": tier}
