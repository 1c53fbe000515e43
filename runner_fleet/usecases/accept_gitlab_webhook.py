"""Accept a GitLab Job Hook: authenticate, parse, de-duplicate, enqueue, answer. Nothing slow here.

Unlike GitHub, the hook does not carry the job's tags, so the pool is chosen by the provision step
from the jobs API; here we only decide whether any GitLab pool could serve the project at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from runner_fleet import naming
from runner_fleet.events.base import MalformedEvent
from runner_fleet.events.gitlab import JobHookEvent
from runner_fleet.logs import get_logger
from runner_fleet.messages import DeregisterRequest, ProvisionRequest, ReleaseRequest
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE, WorkQueue
from runner_fleet.settings.pool import Pool
from runner_fleet.signatures import verify_gitlab_token, verify_standard_webhook
from runner_fleet.state.store import FleetState
from runner_fleet.telemetry import metrics, traces
from runner_fleet.usecases.enqueue import enqueue_once
from runner_fleet.usecases.outcome import (
    MAX_BODY_BYTES,
    Headers,
    WebhookOutcome,
    in_job_trace,
    is_delivery_id,
    is_event_name,
    load_json_object,
    rejections,
)

log = get_logger("webhook.gitlab")


@dataclass(frozen=True)
class GitLabIntake:
    token: bytes
    pools: Sequence[Pool]
    queue: WorkQueue
    state: FleetState
    signing_token: str | None = None
    now: Callable[[], float] = field(default=time.time)

    @property
    def _gitlab_pools(self) -> list[Pool]:
        return [pool for pool in self.pools if pool.gitlab is not None]

    async def handle(self, raw_headers: object, body: bytes) -> WebhookOutcome:
        received_ns = traces.now_ns()
        headers = Headers(raw_headers)
        if len(body) > MAX_BODY_BYTES:
            return WebhookOutcome(413, "payload too large")
        if not verify_gitlab_token(self.token, headers.get("x-gitlab-token")):
            rejections().record(log, forge="gitlab", reason="bad or missing token")
            return WebhookOutcome(401, "invalid token")
        if self.signing_token:
            problem = verify_standard_webhook(
                self.signing_token,
                message_id=headers.get("webhook-id"),
                timestamp=headers.get("webhook-timestamp"),
                signature_header=headers.get("webhook-signature"),
                body=body,
                now=self.now(),
            )
            if problem is not None:
                rejections().record(log, forge="gitlab", reason=problem)
                return WebhookOutcome(401, f"invalid signature: {problem}")
        kind = headers.get("x-gitlab-event")
        if not kind:
            return WebhookOutcome(400, "missing X-Gitlab-Event")
        if not is_event_name(kind):
            return WebhookOutcome(400, "malformed X-Gitlab-Event")
        if kind != "Job Hook":
            return WebhookOutcome(200, f"ignored event {kind}")
        # With signing on, the signed `webhook-id` is the key: Idempotency-Key and the event UUID are
        # not covered by the signature, so a replay could present new ones.
        delivery = (headers.get("webhook-id") if self.signing_token else None) or (
            headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid")
        )
        if delivery is not None and not is_delivery_id(delivery):
            return WebhookOutcome(400, "malformed Idempotency-Key or X-Gitlab-Event-UUID")
        try:
            event = JobHookEvent(load_json_object(body))
        except MalformedEvent as exc:
            return WebhookOutcome(400, f"malformed Job Hook: {exc}"[:200])
        # Older GitLab sends neither header; a job reaches each status once, so that pair is the key.
        delivery = delivery or f"job-{event.job_id}-{event.status}"
        ctx = {"forge": "gitlab", "job_id": event.job_id, "delivery": delivery, "status": event.status}
        log.info("webhook.received", **ctx, project=event.project_path)
        attributes = {"runner_fleet.webhook.status": event.status}
        work = self._act(event, delivery, ctx, received_ns)
        return await in_job_trace("gitlab", event.job_id, attributes, received_ns, work)

    async def _act(
        self, event: JobHookEvent, delivery: str, ctx: dict[str, object], received_ns: int
    ) -> WebhookOutcome:
        if event.status == "pending":
            return await self._pending(event, delivery, ctx, received_ns)
        if event.status == "running":
            return await self._running(event, delivery, ctx)
        if event.finished:
            return await self._finished(event, delivery, ctx)
        return WebhookOutcome(200, f"nothing to do for {event.status} jobs")

    async def _pending(
        self, event: JobHookEvent, delivery: str, ctx: dict[str, object], received_ns: int
    ) -> WebhookOutcome:
        candidates = [
            pool
            for pool in self._gitlab_pools
            if pool.gitlab is not None
            and (pool.gitlab.group_id is not None or pool.gitlab.project_id == event.project_id)
        ]
        if not candidates:
            log.info("job.unmatched", **ctx, reason="no GitLab pool covers the project")
            return WebhookOutcome(200, "no pool serves this project")
        # The pool is chosen once the job's tags are read (provision step); "" means "to be matched".
        request = ProvisionRequest(
            forge="gitlab",
            pool="",
            job_id=event.job_id,
            repository=event.project_path,
            project_id=event.project_id,
            delivery_id=delivery,
        )
        outcome = await self._enqueue(PROVISION_QUEUE, request.to_json(), delivery, ctx)
        if outcome.status == 202:
            metrics.job_accepted("gitlab", "", received_ns)  # its pool is known once its tags are read
        return outcome

    async def _running(self, event: JobHookEvent, delivery: str, ctx: dict[str, object]) -> WebhookOutcome:
        runner = event.runner
        pool_name = naming.pool_of(runner.description) if runner is not None else None
        if runner is None or pool_name is None or all(p.name != pool_name for p in self._gitlab_pools):
            return WebhookOutcome(200, "noted")
        # Bound before the registration goes: from then on GitLab shows the job without its runner.
        await self.state.bind_job(
            "gitlab", str(event.job_id), runner_name=runner.description, runner_id=runner.id
        )
        ctx = ctx | {"pool": pool_name, "runner": runner.description}
        log.info(
            "job.running", **ctx, runner_id=runner.id, wait_s=event.wait_s
        )  # wait_s: see the GitHub intake
        request = DeregisterRequest(
            forge="gitlab",
            pool=pool_name,
            job_id=event.job_id,
            repository=event.project_path,
            project_id=event.project_id,
            delivery_id=delivery,
            runner_name=runner.description,
            runner_id=runner.id,
            job_queued_at=event.queued_at,
            job_started_at=event.started_at,
        )
        return await self._enqueue(RELEASE_QUEUE, request.to_json(), delivery, ctx)

    async def _finished(self, event: JobHookEvent, delivery: str, ctx: dict[str, object]) -> WebhookOutcome:
        runner = event.runner
        name: str = ""
        runner_id: int | None = None
        if runner is not None:
            name, runner_id = runner.description, runner.id
        else:
            # Our runners' registrations are deleted when their job starts, after which GitLab
            # reports the job with `runner: null`; the binding made at `running` names the VM.
            bound = await self.state.job_binding("gitlab", str(event.job_id))
            if bound is not None:
                name, runner_id = bound
        pool_name = naming.pool_of(name) if name else None
        if name and (pool_name is None or all(p.name != pool_name for p in self._gitlab_pools)):
            log.info("job.completed_elsewhere", **ctx, runner_id=runner_id)
            return WebhookOutcome(200, "runner not managed by runner-fleet")
        if not self._gitlab_pools:
            return WebhookOutcome(200, "no GitLab pools")
        # No runner of ours: the job still has to be settled (the release confirms it ended first),
        # so that a provision for it waiting in the queue makes no VM.
        request = ReleaseRequest(
            forge="gitlab",
            pool=pool_name or "",
            job_id=event.job_id,
            repository=event.project_path,
            project_id=event.project_id,
            delivery_id=delivery,
            runner_name=name,
            runner_id=runner_id,
            conclusion=event.status,
        )
        ctx = ctx | {"pool": pool_name, "runner": name or None}
        return await self._enqueue(RELEASE_QUEUE, request.to_json(), delivery, ctx)

    async def _enqueue(self, queue: str, body: str, delivery: str, ctx: dict[str, object]) -> WebhookOutcome:
        return await enqueue_once(
            self.state,
            self.queue,
            forge="gitlab",
            queue_name=queue,
            body=body,
            delivery=delivery,
            ctx=ctx,
            log=log,
        )
