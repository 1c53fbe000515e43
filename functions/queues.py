from __future__ import annotations

from typing import TypedDict

import azure.functions as func

from runner_fleet import runtime, workers
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE, poison_queue

bp = func.Blueprint()


class _Delivery(TypedDict):
    """What a queue worker takes from a message: its text, its id and how often it was delivered."""

    body: str
    message_id: str
    dequeue_count: int


def _delivery(msg: func.QueueMessage) -> _Delivery:
    return {
        "body": msg.get_body().decode("utf-8"),
        "message_id": msg.id or "",
        "dequeue_count": msg.dequeue_count or 1,
    }


@bp.queue_trigger(arg_name="msg", queue_name=PROVISION_QUEUE, connection="AzureWebJobsStorage")
async def provision(msg: func.QueueMessage) -> None:
    rt = runtime.current()
    await workers.run_provision(**_delivery(msg), work=rt.provision_work(), queue=rt.queue)


@bp.queue_trigger(arg_name="msg", queue_name=RELEASE_QUEUE, connection="AzureWebJobsStorage")
async def release(msg: func.QueueMessage) -> None:
    rt = runtime.current()
    await workers.run_release(**_delivery(msg), releaser=rt.releaser(), deregisterer=rt.deregisterer())


# After maxDequeueCount failures the host moves a message to <queue>-poison. Say what was lost; the
# reconciler recovers it (a job still waiting gets a runner, a finished runner's VM is deleted).
@bp.queue_trigger(arg_name="msg", queue_name=poison_queue(PROVISION_QUEUE), connection="AzureWebJobsStorage")
async def provision_poison(msg: func.QueueMessage) -> None:
    workers.log_poisoned(PROVISION_QUEUE, msg.get_body().decode("utf-8", "replace"))


@bp.queue_trigger(arg_name="msg", queue_name=poison_queue(RELEASE_QUEUE), connection="AzureWebJobsStorage")
async def release_poison(msg: func.QueueMessage) -> None:
    workers.log_poisoned(RELEASE_QUEUE, msg.get_body().decode("utf-8", "replace"))
