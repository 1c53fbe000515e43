import pytest

from runner_fleet.events.base import MalformedEvent, queued_to_running
from runner_fleet.events.github import WorkflowJobEvent
from tests.builders import event


def test_queued_job_has_labels_and_no_runner() -> None:
    """A queued job carries its labels; runner fields are null until it runs."""
    parsed = WorkflowJobEvent(event("workflow_job.queued.json"))
    assert parsed.action == "queued"
    assert parsed.job.labels == ("self-hosted", "linux", "aks-prod")
    assert parsed.job.runner_name is None and parsed.job.runner_id is None
    assert parsed.org == "example-org" and parsed.installation_id == 2311213
    assert not parsed.is_waiting


def test_queued_action_with_waiting_status_is_waiting() -> None:
    """GitHub sends action queued with status waiting for a job behind an environment approval."""
    assert WorkflowJobEvent(event("workflow_job.queued_waiting.json")).is_waiting
    assert WorkflowJobEvent(event("workflow_job.waiting.json")).is_waiting


def test_completed_names_the_runner_that_ran_the_job() -> None:
    """`completed` carries the runner's name and id."""
    parsed = WorkflowJobEvent(event("workflow_job.completed.json"))
    assert (parsed.job.runner_name, parsed.job.runner_id, parsed.job.conclusion) == (
        "rf-aks-prod-0123456789",
        23,
        "success",
    )


def test_user_owned_repository_falls_back_to_the_owner() -> None:
    """Without an organization object the owner login is the scope, and no installation is known."""
    parsed = WorkflowJobEvent(event("workflow_job.queued_user_repo.json"))
    assert parsed.org == "example-org"
    assert parsed.installation_id is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("workflow_job"), "workflow_job"),
        (lambda e: e["workflow_job"].update(labels="aks-prod"), "labels"),
        (lambda e: e["workflow_job"].update(id="12"), "id"),
        (lambda e: e["workflow_job"].update(id=True), "id"),
        (lambda e: e.update(action="exploded"), "action"),
        (lambda e: e["repository"].pop("owner"), "owner"),
        (lambda e: e["installation"].update(id="x"), "installation"),
    ],
)
def test_malformed_payloads_are_rejected(mutate, message) -> None:  # type: ignore[no-untyped-def]
    """A payload missing or mistyping a field the service relies on raises MalformedEvent."""
    payload = event("workflow_job.queued.json")
    mutate(payload)
    with pytest.raises(MalformedEvent, match=message):
        WorkflowJobEvent(payload)


def test_a_non_object_body_is_malformed() -> None:
    """A JSON list is not an event."""
    with pytest.raises(MalformedEvent):
        WorkflowJobEvent([])  # type: ignore[arg-type]


def test_wait_is_none_when_the_times_are_out_of_order() -> None:
    """A start before the queue time (clocks disagree) gives no wait rather than a negative one."""
    assert queued_to_running(100.0, 99.0) is None and queued_to_running(100.0, 190.5) == 90.5
    assert queued_to_running(None, 1.0) is None
