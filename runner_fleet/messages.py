"""What travels on the work queues: versioned by `kind`, unknown fields ignored (forward compatible)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from runner_fleet.forges import Forge
from runner_fleet.ports.jobs import JobRef
from runner_fleet.telemetry.traces import current_traceparent


def _traceparent_or_none(value: Any) -> str | None:
    # A W3C traceparent is 55 characters; anything else is dropped rather than failing the message.
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


# The W3C `traceparent` of the span that sent the message (the job's trace continues from it);
# taken from the current span when a message is made, absent from messages written before it was.
TraceParent = Annotated[str | None, BeforeValidator(_traceparent_or_none)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    forge: Forge
    pool: str
    job_id: int
    org: str = ""
    # GitHub: owner/name; GitLab: the project's path with namespace.
    repository: str = ""
    project_id: int | None = None  # GitLab only
    installation_id: int | None = None
    delivery_id: str = ""
    traceparent: TraceParent = Field(default_factory=current_traceparent)

    def to_json(self) -> str:
        return self.model_dump_json()

    def job_ref(self) -> JobRef:
        """The job as the message claims it, for asking its forge."""
        return JobRef(
            self.job_id,
            self.repository,
            project_id=self.project_id,
            org=self.org,
            installation_id=self.installation_id,
        )


class ProvisionRequest(_Message):
    kind: Literal["provision"] = "provision"
    # Empty when the webhook cannot tell (GitLab's hook has no tags): a JobResolver picks the pool.
    labels: tuple[str, ...] = ()
    # When the forge first said the job was queued: the start of the queued -> running latency.
    queued_at: float = Field(default_factory=time.time)
    # A follow-up of a VM create in flight: the claim's owner it continues (empty: this message owns
    # it), and how often the pool's sizes were all tried and failed.
    owner: str = ""
    attempt: int = Field(default=0, ge=0)


class ReleaseRequest(_Message):
    kind: Literal["release"] = "release"
    runner_name: str
    runner_id: int | None = None
    conclusion: str | None = None


class DeregisterRequest(_Message):
    """A job started on one of our runners: its registration is no longer needed, its VM is.

    GitLab only: a `glrt-` token takes any further job it asks for until its runner is deleted,
    while the job already running authenticates with its own job token.
    """

    kind: Literal["deregister"] = "deregister"
    runner_name: str
    runner_id: int
    # When the forge says the job was queued and started (epoch seconds), when its hook said.
    job_queued_at: float | None = None
    job_started_at: float | None = None


class PoolRunnerRequest(BaseModel):
    """Make one runner for a pool, not for a job: a warm runner, or the replacement of one a job took.

    `key` names the runner deterministically (`naming.pool_runner_name`), so a repeated request
    (a redelivered webhook, a reconcile round that ran twice) makes one VM, not two.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["pool-runner"] = "pool-runner"
    forge: Forge
    pool: str
    key: str = Field(min_length=1, max_length=128)
    # Why it is wanted: "warm" (the pool is below its warm target), "replace" (a job took a warm
    # runner), "shortfall" (more jobs wait than runners are coming).
    reason: Literal["warm", "replace", "shortfall"] = "warm"
    requested_at: float = Field(default_factory=time.time)
    owner: str = ""
    attempt: int = Field(default=0, ge=0)
    traceparent: TraceParent = Field(default_factory=current_traceparent)

    def to_json(self) -> str:
        return self.model_dump_json()


class RunnerStarted(_Message):
    """A job started on one of our runners: if that runner was a pool's warm one, replace it."""

    kind: Literal["runner-started"] = "runner-started"
    runner_name: str
    # When the forge says the job was queued and started (epoch seconds), when its hook said.
    job_queued_at: float | None = None
    job_started_at: float | None = None


ProvisionQueueMessage = Annotated[
    ProvisionRequest | PoolRunnerRequest | RunnerStarted, Field(discriminator="kind")
]
_PROVISION_QUEUE: TypeAdapter[ProvisionRequest | PoolRunnerRequest | RunnerStarted] = TypeAdapter(
    ProvisionQueueMessage
)

ReleaseQueueMessage = Annotated[ReleaseRequest | DeregisterRequest, Field(discriminator="kind")]
_RELEASE_QUEUE: TypeAdapter[ReleaseRequest | DeregisterRequest] = TypeAdapter(ReleaseQueueMessage)


def parse_provision(body: str) -> ProvisionRequest:
    return ProvisionRequest.model_validate_json(body)


def parse_provision_queue(body: str) -> ProvisionRequest | PoolRunnerRequest | RunnerStarted:
    """A message of the provision queue; one written before `kind` was sent is a job's provision."""
    try:
        return _PROVISION_QUEUE.validate_json(body)
    except ValidationError as exc:
        if any(error["type"] == "union_tag_not_found" for error in exc.errors()):
            return ProvisionRequest.model_validate_json(body)
        raise


def parse_release(body: str) -> ReleaseRequest | DeregisterRequest:
    """A message of the release queue: a runner to release, or a registration to delete."""
    return _RELEASE_QUEUE.validate_json(body)
