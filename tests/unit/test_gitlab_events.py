import json

import pytest

from runner_fleet.events.base import MalformedEvent
from runner_fleet.events.gitlab import JobHookEvent
from tests.builders import EVENTS


def gitlab_event(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((EVENTS / "gitlab" / name).read_text())
    return loaded


@pytest.mark.parametrize(
    ("name", "status", "finished"),
    [
        ("job_hook.created.json", "created", False),
        ("job_hook.pending.json", "pending", False),
        ("job_hook.running.json", "running", False),
        ("job_hook.success.json", "success", True),
        ("job_hook.failed.json", "failed", True),
        ("job_hook.canceled_pending.json", "canceled", True),
    ],
)
def test_documented_shapes_parse(name: str, status: str, finished: bool) -> None:
    """Every documented Job Hook status parses, with its job and project."""
    event = JobHookEvent(gitlab_event(name))
    assert (event.status, event.finished, event.job_id, event.project_id) == (status, finished, 1977, 380)
    assert event.project_path == "platform/platform-deploy"


def test_runner_is_null_until_a_runner_takes_the_job() -> None:
    """`runner` is null while created or pending, and names the runner from running on."""
    assert JobHookEvent(gitlab_event("job_hook.pending.json")).runner is None
    runner = JobHookEvent(gitlab_event("job_hook.running.json")).runner
    assert runner is not None
    assert (runner.id, runner.description) == (4121, "rf-gl-aks-0123456789")


def test_environment_is_read_when_present_and_null_otherwise() -> None:
    """A deploying job names its environment; others have environment null."""
    assert JobHookEvent(gitlab_event("job_hook.pending.json")).environment is None
    assert JobHookEvent(gitlab_event("job_hook.pending_environment.json")).environment == "production"


def test_child_pipeline_jobs_parse() -> None:
    """A job of a child pipeline (source_pipeline present) parses like any other."""
    event = JobHookEvent(gitlab_event("job_hook.pending_child_pipeline.json"))
    assert event.status == "pending"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.update(object_kind="pipeline"), "object_kind"),
        (lambda e: e.pop("build_id"), "build_id"),
        (lambda e: e.update(build_status="exploded"), "build_status"),
        (lambda e: e.update(project_id="380"), "project_id"),
        (lambda e: e.update(runner=[]), "runner"),
    ],
)
def test_malformed_hooks_are_rejected(mutate, message) -> None:  # type: ignore[no-untyped-def]
    """A hook missing or mistyping what the service relies on raises MalformedEvent."""
    payload = gitlab_event("job_hook.pending.json")
    mutate(payload)
    with pytest.raises(MalformedEvent, match=message):
        JobHookEvent(payload)


def test_a_running_jobs_wait_is_its_queued_duration() -> None:
    """wait_s: from the job's queued time (its start less build_queued_duration) to its start."""
    assert JobHookEvent(gitlab_event("job_hook.running.json")).wait_s == 60.0


def test_a_pending_job_has_no_wait_yet() -> None:
    """No start time, no wait."""
    assert JobHookEvent(gitlab_event("job_hook.canceled_pending.json")).wait_s is None
