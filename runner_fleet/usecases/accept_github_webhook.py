"""Accept a GitHub webhook: verify, parse, match, de-duplicate, enqueue, answer. Nothing slow here.

This runs on the HTTP path, which GitHub abandons after 10 s; it must stay free of the Azure
management SDKs and of any forge API call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runner_fleet import naming
from runner_fleet.events.base import MalformedEvent
from runner_fleet.events.github import WorkflowJobEvent
from runner_fleet.logs import get_logger
from runner_fleet.matching import labels_fit, match_github_pool
from runner_fleet.messages import ProvisionRequest, ReleaseRequest, RunnerStarted
from runner_fleet.ports.queue import PROVISION_QUEUE, RELEASE_QUEUE, WorkQueue
from runner_fleet.provenance import is_public
from runner_fleet.settings.pool import Pool
from runner_fleet.signatures import verify_github_signature
from runner_fleet.state.recent_repositories import RecentRepositories
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

log = get_logger("webhook.github")


@dataclass(frozen=True)
class GitHubIntake:
    secret: bytes
    pools: Sequence[Pool]
    queue: WorkQueue
    state: FleetState

    async def handle(self, raw_headers: object, body: bytes) -> WebhookOutcome:
        received_ns = traces.now_ns()
        headers = Headers(raw_headers)
        if len(body) > MAX_BODY_BYTES:
            return WebhookOutcome(413, "payload too large")
        if not verify_github_signature(self.secret, body, headers.get("x-hub-signature-256")):
            rejections().record(log, forge="github", reason="bad or missing signature")
            return WebhookOutcome(401, "invalid signature")
        event_name = headers.get("x-github-event")
        delivery = headers.get("x-github-delivery")
        if not event_name or not delivery:
            return WebhookOutcome(400, "missing X-GitHub-Event or X-GitHub-Delivery")
        if not is_event_name(event_name) or not is_delivery_id(delivery):
            return WebhookOutcome(400, "malformed X-GitHub-Event or X-GitHub-Delivery")
        if event_name == "ping":
            return WebhookOutcome(200, "pong")
        if event_name != "workflow_job":
            return WebhookOutcome(200, f"ignored event {event_name[:40]}")
        try:
            event = WorkflowJobEvent(load_json_object(body))
        except (ValueError, MalformedEvent) as exc:
            # json.JSONDecodeError is a ValueError; neither carries payload secrets in its text.
            reason = str(exc) if isinstance(exc, MalformedEvent) else "body is not JSON"
            return WebhookOutcome(400, f"malformed workflow_job: {reason}"[:200])
        job = event.job
        ctx = {"forge": "github", "job_id": job.id, "delivery": delivery, "action": event.action}
        log.info("webhook.received", **ctx, repository=event.repository.full_name, labels=list(job.labels))
        attributes = {"runner_fleet.webhook.action": event.action}
        work = self._act(event, delivery, ctx, received_ns)
        return await in_job_trace("github", job.id, attributes, received_ns, work)

    async def _act(
        self, event: WorkflowJobEvent, delivery: str, ctx: dict[str, object], received_ns: int
    ) -> WebhookOutcome:
        job = event.job
        if event.action == "completed":
            return await self._completed(event, delivery, ctx)
        if event.action == "in_progress":
            return await self._started(event, delivery, ctx)
        # A hint only (the provision asks GitHub again): public repositories are left alone unless a
        # pool serves them.
        public = is_public(event.repository.raw)
        pool = match_github_pool(
            job.labels, self.pools, org=event.org, repository=event.repository.full_name, public=public
        )
        if pool is not None:
            # Also for a job behind an approval: once approved, only the recovery scan may see it.
            await self._note_repository(event, ctx)
        if event.is_waiting:
            # Behind an environment approval: a runner now would idle for as long as the approval takes.
            return WebhookOutcome(200, "job is waiting for approval")
        if pool is None:
            log.info("job.unmatched", **ctx, labels=list(job.labels), public=public)
            return WebhookOutcome(200, "no pool serves these labels")
        log.info("job.matched", **ctx, pool=pool.name)
        request = ProvisionRequest(
            forge="github",
            pool=pool.name,
            job_id=job.id,
            org=event.org,
            repository=event.repository.full_name,
            installation_id=event.installation_id,
            delivery_id=delivery,
            labels=job.labels,
        )
        outcome = await self._enqueue(PROVISION_QUEUE, request.to_json(), delivery, ctx | {"pool": pool.name})
        if outcome.status == 202:
            metrics.job_accepted("github", pool.name, received_ns)
        return outcome

    async def _started(
        self, event: WorkflowJobEvent, delivery: str, ctx: dict[str, object]
    ) -> WebhookOutcome:
        job = event.job
        pool_name = naming.pool_of(job.runner_name)
        # wait_s (queued -> running, GitHub's own times) feeds the workbook's percentiles and the
        # p95 alert: Application Insights keeps histograms only as sums and counts.
        log.info(
            "job.running",
            **ctx,
            runner=job.runner_name,
            pool=pool_name,
            wait_s=job.wait_s,
        )
        if job.runner_name is None or pool_name is None or all(p.name != pool_name for p in self.pools):
            return WebhookOutcome(200, "noted")
        # Ours: the reconciler must not trust a lagging `busy` flag, and a warm runner is replaced.
        started = RunnerStarted(
            **_about(event, pool_name, delivery),
            runner_name=job.runner_name,
            job_queued_at=job.created_at,
            job_started_at=job.started_at,
        )
        ctx = ctx | {"pool": pool_name, "runner": job.runner_name}
        return await self._enqueue(PROVISION_QUEUE, started.to_json(), delivery, ctx)

    async def _note_repository(self, event: WorkflowJobEvent, ctx: dict[str, object]) -> None:
        """Point the recovery scan at this repository; its rotation reaches it anyway if this fails."""
        try:
            await RecentRepositories(self.state.table).note(event.org, event.repository.full_name)
        except Exception:
            log.warning("webhook.repository_not_noted", **ctx, repository=event.repository.full_name)

    async def _completed(
        self, event: WorkflowJobEvent, delivery: str, ctx: dict[str, object]
    ) -> WebhookOutcome:
        job = event.job
        pool_name = naming.pool_of(job.runner_name)
        ours = pool_name is not None and any(p.name == pool_name for p in self.pools)
        if ours or any(labels_fit(job.labels, p) for p in self.pools if p.forge == "github"):
            # Over, whichever runner ran it (ours, another one of the group, none at all): a provision
            # for it still in the queue must not make a VM. The event is signed, and a job that
            # completed never queues again.
            await self.state.settle_job("github", str(job.id))
        if job.runner_name is None:
            return WebhookOutcome(200, "job ended before any runner took it")
        if pool_name is None or not ours:
            log.info("job.completed_elsewhere", **ctx, runner=job.runner_name)
            return WebhookOutcome(200, "runner not managed by runner-fleet")
        request = ReleaseRequest(
            **_about(event, pool_name, delivery),
            runner_name=job.runner_name,
            runner_id=job.runner_id,
            conclusion=job.conclusion,
        )
        ctx = ctx | {"pool": pool_name, "runner": job.runner_name}
        return await self._enqueue(RELEASE_QUEUE, request.to_json(), delivery, ctx)

    async def _enqueue(self, queue: str, body: str, delivery: str, ctx: dict[str, object]) -> WebhookOutcome:
        return await enqueue_once(
            self.state,
            self.queue,
            forge="github",
            queue_name=queue,
            body=body,
            delivery=delivery,
            ctx=ctx,
            log=log,
        )


def _about(event: WorkflowJobEvent, pool: str, delivery: str) -> dict[str, Any]:
    """What every message about this event's job carries: forge, pool, job, where it runs, delivery."""
    return {
        "forge": "github",
        "pool": pool,
        "job_id": event.job.id,
        "org": event.org,
        "repository": event.repository.full_name,
        "installation_id": event.installation_id,
        "delivery_id": delivery,
    }
