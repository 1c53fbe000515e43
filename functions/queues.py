from __future__ import annotations

import azure.functions as func

from runner_fleet import runtime, workers
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE, poison_queue

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name=PROVISION_QUEUE, connection="AzureWebJobsStorage")
async def provision(msg: func.QueueMessage) -> None:
    rt = runtime.current()
    await workers.run_provision(
        msg.get_body().decode("utf-8"),
        message_id=msg.id or "",
        dequeue_count=msg.dequeue_count or 1,
        provisioner=rt.provisioner(),
        queue=rt.queue,
    )


@bp.queue_trigger(arg_name="msg", queue_name=RELEASE_QUEUE, connection="AzureWebJobsStorage")
async def release(msg: func.QueueMessage) -> None:
    rt = runtime.current()
    await workers.run_release(
        msg.get_body().decode("utf-8"),
        message_id=msg.id or "",
        dequeue_count=msg.dequeue_count or 1,
        releaser=rt.releaser(),
        deregisterer=rt.deregisterer(),
    )


# After maxDequeueCount failures the host moves a message to <queue>-poison. Say what was lost; the
# reconciler recovers it (a job still waiting gets a runner, a finished runner's VM is deleted).
@bp.queue_trigger(arg_name="msg", queue_name=poison_queue(PROVISION_QUEUE), connection="AzureWebJobsStorage")
async def provision_poison(msg: func.QueueMessage) -> None:
    workers.log_poisoned(PROVISION_QUEUE, msg.get_body().decode("utf-8", "replace"))


@bp.queue_trigger(arg_name="msg", queue_name=poison_queue(RELEASE_QUEUE), connection="AzureWebJobsStorage")
async def release_poison(msg: func.QueueMessage) -> None:
    workers.log_poisoned(RELEASE_QUEUE, msg.get_body().decode("utf-8", "replace"))
