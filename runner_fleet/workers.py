"""Queue work, as the queue-triggered functions call it: decode, run one use case, decide on retry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from runner_fleet.logs import get_logger
from runner_fleet.messages import (
    DeregisterRequest,
    PoolRunnerRequest,
    ProvisionRequest,
    ReleaseRequest,
    RunnerStarted,
    parse_provision_queue,
    parse_release,
)
from runner_fleet.ports.queue import PROVISION_QUEUE, WorkQueue
from runner_fleet.usecases.create_runner import ProvisionRetryLater
from runner_fleet.usecases.deregister import Deregisterer, DeregisterResult
from runner_fleet.usecases.provision import Provisioner, ProvisionResult
from runner_fleet.usecases.provision_pool_runner import PoolRunnerProvisioner
from runner_fleet.usecases.release import Releaser, ReleaseResult
from runner_fleet.usecases.replace_runner import RunnerReplacer

log = get_logger("workers")
_Request = TypeVar("_Request")


@dataclass(frozen=True)
class ProvisionWork:
    """The use cases behind the provision queue, one per kind of message."""

    provisioner: Provisioner
    pool_provisioner: PoolRunnerProvisioner
    replacer: RunnerReplacer


async def run_provision(
    body: str, *, message_id: str, dequeue_count: int, work: ProvisionWork, queue: WorkQueue
) -> ProvisionResult | None:
    request = _read(parse_provision_queue, body, "provision.unreadable_message", message_id)
    if request is None:
        return None
    try:
        if isinstance(request, RunnerStarted):
            await work.replacer(
                request.forge,
                request.pool,
                request.runner_name,
                request.job_id,
                job_queued_at=request.job_queued_at,
                job_started_at=request.job_started_at,
            )
            return None
        if isinstance(request, PoolRunnerRequest):
            result = await work.pool_provisioner(request, message_id=message_id)
        else:
            result = await work.provisioner(request, message_id=message_id)
    except ProvisionRetryLater as wait:
        # Waiting is not failing: a fresh delayed message keeps the dequeue count for real failures.
        await queue.send(PROVISION_QUEUE, body, delay_s=wait.delay_s)
        log.info("provision.deferred", **_job(request), delay_s=round(wait.delay_s, 1), reason=wait.reason)
        return ProvisionResult("deferred", retry_after_s=wait.delay_s)
    except Exception:
        log.exception("provision.failed", **_job(request), attempt=dequeue_count)
        raise
    if result.follow_up:
        # The create is in flight: read it again later, in a message of its own, holding no worker.
        await queue.send(PROVISION_QUEUE, result.follow_up, delay_s=result.retry_after_s)
    return result


async def run_release(
    body: str, *, message_id: str, dequeue_count: int, releaser: Releaser, deregisterer: Deregisterer
) -> ReleaseResult | DeregisterResult | None:
    request = _read(parse_release, body, "release.unreadable_message", message_id)
    if request is None:
        return None
    try:
        if isinstance(request, DeregisterRequest):
            return await deregisterer(request)
        return await releaser(request)
    except Exception:
        log.exception("release.failed", **_job(request), runner=request.runner_name, attempt=dequeue_count)
        raise


def _read(parse: Callable[[str], _Request], body: str, unreadable: str, message_id: str) -> _Request | None:
    """`parse(body)`, or None (logged as `unreadable`) for a message that cannot be read.

    Retrying cannot fix a message we cannot read; dropping it loudly beats poisoning the queue.
    """
    try:
        return parse(body)
    except ValidationError as exc:
        log.error(unreadable, message_id=message_id, errors=exc.error_count())
        return None


def _job(
    request: ProvisionRequest | PoolRunnerRequest | RunnerStarted | ReleaseRequest | DeregisterRequest,
) -> dict[str, object]:
    """The fields that name a request's job (or pool runner) in the log."""
    if isinstance(request, PoolRunnerRequest):
        return {"forge": request.forge, "pool": request.pool, "key": request.key}
    return {"forge": request.forge, "pool": request.pool, "job_id": request.job_id}


def log_poisoned(queue: str, body: str) -> None:
    """A message that failed every attempt: log what it was for, so its loss is visible and searchable."""
    try:
        request = parse_provision_queue(body) if queue == PROVISION_QUEUE else parse_release(body)
        details: dict[str, object] = request.model_dump(
            include={"kind", "forge", "pool", "job_id", "key", "repository", "runner_name"}
        )
    except ValidationError:
        details = {"unreadable": True}
    log.error("queue.poisoned", queue=queue, **details, recovery="the reconciler will recover it")
