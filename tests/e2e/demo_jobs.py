"""Jobs on the GitHub simulator's demo repository, and the provision message their webhook leads to."""

from __future__ import annotations

import asyncio
from typing import Any

from runner_fleet.messages import ProvisionRequest
from simulator.stack import DEMO_INSTALLATION_ID, DEMO_ORG, SimulatedCloud

REPOSITORY = "platform-deploy"


async def queue_github_job(cloud: SimulatedCloud, *labels: str, duration_s: float) -> dict[str, Any]:
    """A job for `labels` queued on the demo org's platform-deploy (off the loop the service runs on)."""
    return await asyncio.to_thread(
        cloud.github.queue_job, DEMO_ORG, REPOSITORY, list(labels), duration_s=duration_s
    )


def provision_request(job: dict[str, Any], pool: str) -> ProvisionRequest:
    """What the `queued` webhook of `job` (from `queue_github_job`) puts on the queue for `pool`."""
    return ProvisionRequest(
        forge="github",
        pool=pool,
        job_id=job["id"],
        org=DEMO_ORG,
        repository=f"{DEMO_ORG}/{REPOSITORY}",
        installation_id=DEMO_INSTALLATION_ID,
    )
