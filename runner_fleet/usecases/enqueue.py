"""The last step of every webhook: claim the delivery, enqueue the work, answer."""

from __future__ import annotations

from typing import Any

from runner_fleet.forges import Forge
from runner_fleet.ports.queue import WorkQueue
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.outcome import WebhookOutcome


async def enqueue_once(
    state: FleetState,
    queue: WorkQueue,
    *,
    forge: Forge,
    queue_name: str,
    body: str,
    delivery: str,
    ctx: dict[str, object],
    log: Any,
) -> WebhookOutcome:
    """Enqueue `body` unless this delivery was already accepted.

    If the queue cannot take the work, the delivery claim is dropped again so that a redelivery is
    not mistaken for a duplicate, and the forge gets a 503.
    """
    if not await state.claim_delivery(forge, delivery):
        log.info("webhook.duplicate", **ctx)
        return WebhookOutcome(200, "duplicate delivery")
    try:
        await queue.send(queue_name, body)
    except Exception:
        log.exception("webhook.enqueue_failed", **ctx, queue=queue_name)
        try:
            await state.forget_delivery(forge, delivery)
        except Exception:
            log.exception("webhook.forget_delivery_failed", **ctx)
        return WebhookOutcome(503, "could not enqueue; redeliver later")
    log.info("webhook.enqueued", **ctx, queue=queue_name)
    return WebhookOutcome(202, "accepted", queued=queue_name)
