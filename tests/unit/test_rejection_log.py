"""`webhook.rejected` is rate-limited per forge and reason, with a count of what was held back."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from runner_fleet import logs
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.accept_github_webhook import GitHubIntake
from runner_fleet.usecases.accept_gitlab_webhook import GitLabIntake
from runner_fleet.usecases.outcome import RejectionLog, use_rejections
from tests.builders import WEBHOOK_SECRET, event, make_pool, signed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _rejected(stream: io.StringIO) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in parsed if line["event"] == "webhook.rejected"]


@pytest.fixture
def stream() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    return stream


@pytest.fixture
def rejections(clock: Clock) -> Iterator[RejectionLog]:
    log = RejectionLog(burst=3, refill_s=10.0, clock=clock)
    previous = use_rejections(log)
    yield log
    use_rejections(previous)


def test_a_burst_is_logged_and_the_rest_is_held_back(rejections: RejectionLog, stream: io.StringIO) -> None:
    """Of 100 rejections at one instant, only the burst is logged."""
    log = logs.get_logger("t")
    for _ in range(100):
        rejections.record(log, forge="github", reason="bad or missing signature")
    lines = _rejected(stream)
    assert len(lines) == 3
    assert all("suppressed" not in line for line in lines)


def test_the_next_line_let_through_counts_what_was_held_back(
    rejections: RejectionLog, clock: Clock, stream: io.StringIO
) -> None:
    """Once a token refills, the next line carries how many lines were suppressed before it."""
    log = logs.get_logger("t")
    for _ in range(100):
        rejections.record(log, forge="github", reason="bad or missing signature")
    clock.now += 10.0
    rejections.record(log, forge="github", reason="bad or missing signature")
    rejections.record(log, forge="github", reason="bad or missing signature")
    lines = _rejected(stream)
    assert len(lines) == 4
    assert lines[-1]["suppressed"] == 97


def test_a_quiet_spell_refills_the_whole_burst(
    rejections: RejectionLog, clock: Clock, stream: io.StringIO
) -> None:
    """After enough quiet time a whole burst is logged again, and never more than the burst."""
    log = logs.get_logger("t")
    for _ in range(5):
        rejections.record(log, forge="gitlab", reason="bad or missing token")
    clock.now += 3600.0
    for _ in range(5):
        rejections.record(log, forge="gitlab", reason="bad or missing token")
    assert len(_rejected(stream)) == 6


def test_each_forge_and_reason_has_its_own_budget(rejections: RejectionLog, stream: io.StringIO) -> None:
    """A flood of one reason does not hide the first rejections of another."""
    log = logs.get_logger("t")
    for _ in range(50):
        rejections.record(log, forge="github", reason="bad or missing signature")
    rejections.record(log, forge="gitlab", reason="bad or missing token")
    rejections.record(log, forge="gitlab", reason="webhook-signature does not match")
    reasons = [(line["forge"], line["reason"]) for line in _rejected(stream)]
    assert reasons[-2:] == [
        ("gitlab", "bad or missing token"),
        ("gitlab", "webhook-signature does not match"),
    ]


async def test_a_flood_of_forged_github_deliveries_logs_only_the_burst(
    rejections: RejectionLog, stream: io.StringIO
) -> None:
    """200 requests with a wrong signature are all answered 401 but logged only three times."""
    intake = GitHubIntake(
        WEBHOOK_SECRET.encode(), (make_pool(),), MemoryWorkQueue(), FleetState(MemoryStateTable())
    )
    statuses = {
        (await intake.handle(*signed(event("workflow_job.queued.json"), secret="forged"))).status
        for _ in range(200)
    }
    assert statuses == {401}
    assert len(_rejected(stream)) == 3


async def test_a_flood_of_forged_gitlab_hooks_logs_only_the_burst(
    rejections: RejectionLog, stream: io.StringIO
) -> None:
    """200 Job Hooks with a wrong token are all answered 401 but logged only three times."""
    intake = GitLabIntake(b"gitlab-hook-token-42", (), MemoryWorkQueue(), FleetState(MemoryStateTable()))
    headers = {"X-Gitlab-Event": "Job Hook", "X-Gitlab-Token": "forged-token"}
    statuses = {(await intake.handle(headers, b"{}")).status for _ in range(200)}
    assert statuses == {401}
    assert len(_rejected(stream)) == 3


def test_a_flood_that_stopped_is_reported_by_flush(rejections: RejectionLog, stream: io.StringIO) -> None:
    """flush logs the count still held back per key once, and then has nothing more to say."""
    log = logs.get_logger("t")
    for _ in range(20):
        rejections.record(log, forge="github", reason="bad or missing signature")
    rejections.record(log, forge="gitlab", reason="bad or missing token")
    assert rejections.flush(log) == 1
    assert rejections.flush(log) == 0
    flushed = [line for line in _rejected(stream) if line.get("flushed")]
    assert [(line["forge"], line["suppressed"]) for line in flushed] == [("github", 17)]
