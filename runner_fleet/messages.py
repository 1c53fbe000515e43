"""What travels on the work queues: versioned by `kind`, unknown fields ignored (forward compatible)."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from runner_fleet.forges import Forge
from runner_fleet.ports.jobs import JobRef


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


ReleaseQueueMessage = Annotated[ReleaseRequest | DeregisterRequest, Field(discriminator="kind")]
_RELEASE_QUEUE: TypeAdapter[ReleaseRequest | DeregisterRequest] = TypeAdapter(ReleaseQueueMessage)


def parse_provision(body: str) -> ProvisionRequest:
    return ProvisionRequest.model_validate_json(body)


def parse_release(body: str) -> ReleaseRequest | DeregisterRequest:
    """A message of the release queue: a runner to release, or a registration to delete."""
    return _RELEASE_QUEUE.validate_json(body)
