"""Queue jobs on the simulated forges at a steady rate, round-robin over the pools' job shapes."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.pools import JobShape
from simulator.stack import DEMO_ORG, SimulatedCloud


@dataclass
class Plan:
    jobs: dict[str, str] = field(default_factory=dict)  # forge:id -> the pool expected to serve it
    first_at: float | None = None
    last_at: float | None = None

    @property
    def keys(self) -> list[str]:
        return list(self.jobs)  # one C-level copy: safe while the queueing thread adds jobs

    def snapshot(self) -> dict[str, str]:
        return dict(self.jobs)


def _queue_one(cloud: SimulatedCloud, shape: JobShape, duration_s: float, name: str) -> str:
    if shape.forge == "github":
        job = cloud.github.queue_job(
            DEMO_ORG, shape.repository, list(shape.labels), duration_s=duration_s, name=name
        )
        return f"github:{job['id']}"
    job = cloud.gitlab.create_job(shape.project_id, list(shape.labels), duration_s=duration_s, name=name)
    return f"gitlab:{job['id']}"


async def queue_jobs(
    cloud: SimulatedCloud,
    shapes: Sequence[JobShape],
    count: int,
    *,
    per_second: float,
    durations_s: tuple[float, float],
    plan: Plan,
    seed: int = 7,
) -> Plan:
    """Queue `count` jobs, the i-th at `i / per_second` seconds; `plan` fills in as they go.

    The pacing loop runs on a thread of its own, so a busy service loop cannot hold a burst back.
    """
    stop = threading.Event()

    def queue_all() -> None:
        rng = random.Random(seed)
        started = time.monotonic()
        for i in range(count):
            if stop.wait(max(0.0, started + i / per_second - time.monotonic())):
                return
            shape = shapes[i % len(shapes)]
            key = _queue_one(cloud, shape, round(rng.uniform(*durations_s), 1), f"job-{i + 1}")
            plan.jobs[key] = shape.pool
            now = time.time()
            plan.first_at = plan.first_at or now
            plan.last_at = now

    try:
        await asyncio.to_thread(queue_all)
    except asyncio.CancelledError:
        stop.set()  # the thread cannot be cancelled; it stops before its next job
        raise
    return plan
