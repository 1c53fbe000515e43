"""The day the warm-runner benchmark replays: its shape, its arrivals, and how it is compressed.

A day is 24 trace hours. Each trace hour lasts `hour_sim_s` simulated seconds (300 by default: the
day is compressed twelvefold into two simulated hours), and the simulators run `time_scale` times
faster than real time, so a trace hour takes `hour_sim_s / time_scale` real seconds. Arrival rates
are jobs per trace hour and pool; what the figures compare (waits, idle VM-seconds per job) does not
depend on the compression, but the service's own durations (VM create and boot, reconcile cadence,
timeouts) are not compressed, so the day's changes come faster relative to them than in a real day.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from runner_fleet.forges import Forge

FORGES: tuple[Forge, ...] = ("github", "gitlab")


@dataclass(frozen=True)
class Segment:
    """A stretch of the day whose rate (jobs per trace hour, per pool) goes linearly from `rate_from`
    to `rate_to`."""

    name: str
    start_h: float
    end_h: float
    rate_from: float
    rate_to: float

    def jobs(self, scale: float) -> float:
        """Expected jobs per pool in the segment."""
        return (self.end_h - self.start_h) * (self.rate_from + self.rate_to) / 2 * scale


@dataclass(frozen=True)
class Burst:
    """`size` jobs queued at once at trace hour `at_h`, split evenly over the forges."""

    at_h: float
    size: int


@dataclass(frozen=True)
class Shape:
    segments: tuple[Segment, ...]
    bursts: tuple[Burst, ...]
    rate_scale: float = 1.0  # multiplies every segment's rate (the quick trace is a thin day)
    # Working hours, for the schedule mode's window (trace hours): pre-warmed an hour before the
    # morning ramp, kept until the evening tail has thinned out.
    working_hours: tuple[float, float] = (7.0, 19.0)

    def describe(self) -> dict[str, Any]:
        return {
            "segments": [
                {
                    "name": s.name,
                    "trace_hours": [s.start_h, s.end_h],
                    "jobs_per_trace_hour_per_pool": [
                        round(s.rate_from * self.rate_scale, 2),
                        round(s.rate_to * self.rate_scale, 2),
                    ],
                }
                for s in self.segments
            ],
            "bursts": [
                {"trace_hour": b.at_h, "jobs": b.size, "per_forge": b.size // len(FORGES)}
                for b in self.bursts
            ],
            "working_hours": list(self.working_hours),
        }


DAY = Shape(
    segments=(
        Segment("night", 0.0, 6.0, 0.3, 0.3),
        Segment("early", 6.0, 8.0, 0.5, 2.0),
        Segment("morning ramp", 8.0, 10.0, 2.0, 10.0),
        Segment("morning", 10.0, 12.0, 10.0, 10.0),
        Segment("lunch dip", 12.0, 13.5, 3.0, 3.0),
        Segment("afternoon", 13.5, 17.0, 8.0, 8.0),
        Segment("evening tail", 17.0, 20.0, 6.0, 1.0),
        Segment("late evening", 20.0, 24.0, 0.3, 0.3),
    ),
    bursts=(Burst(10.5, 20), Burst(15.0, 20)),
)
# For tests: the same day, thin (a tenth of the rate, bursts of four).
QUICK_DAY = Shape(segments=DAY.segments, bursts=(Burst(10.5, 4), Burst(15.0, 4)), rate_scale=0.1)


@dataclass(frozen=True)
class Arrival:
    at_sim_s: float  # from the start of the day, simulated seconds
    forge: Forge
    duration_s: float  # simulated
    burst: bool
    name: str


@dataclass(frozen=True)
class Trace:
    shape: Shape
    hour_sim_s: float
    time_scale: float
    arrivals: tuple[Arrival, ...]
    durations_s: tuple[float, float]
    seed: int

    @property
    def span_sim_s(self) -> float:
        return 24 * self.hour_sim_s

    @property
    def hour_real_s(self) -> float:
        return self.hour_sim_s / self.time_scale

    @property
    def span_real_s(self) -> float:
        return self.span_sim_s / self.time_scale

    def jobs(self, forge: Forge | None = None) -> int:
        return sum(1 for a in self.arrivals if forge is None or a.forge == forge)

    def describe(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs(),
            "jobs_by_forge": {forge: self.jobs(forge) for forge in FORGES},
            "burst_jobs": sum(1 for a in self.arrivals if a.burst),
            "simulated_span_s": self.span_sim_s,
            "simulated_span_h": round(self.span_sim_s / 3600, 3),
            "trace_hour_sim_s": self.hour_sim_s,
            "compression": round(86400 / self.span_sim_s, 2),
            "time_scale": self.time_scale,
            "real_span_s": round(self.span_real_s, 1),
            "job_duration_sim_s": list(self.durations_s),
            "seed": self.seed,
            "shape": self.shape.describe(),
            "note": (
                "one day of 24 trace hours, each trace_hour_sim_s simulated seconds long "
                "(compressed `compression` times); rates are jobs per trace hour per pool; the "
                "simulators run time_scale times faster than real time; every figure is in "
                "simulated seconds"
            ),
        }


def build_trace(
    shape: Shape,
    *,
    hour_sim_s: float,
    time_scale: float,
    durations_s: tuple[float, float],
    seed: int,
) -> Trace:
    """The day's arrivals, the same for every mode of a seed: per forge a Poisson process following
    the segments' rates (thinning), plus the bursts."""
    rng = random.Random(seed)
    arrivals: list[tuple[float, Forge, bool]] = []
    for forge in FORGES:
        for segment in shape.segments:
            peak = max(segment.rate_from, segment.rate_to) * shape.rate_scale
            if peak <= 0:
                continue
            t = segment.start_h
            while True:
                t += rng.expovariate(peak)
                if t >= segment.end_h:
                    break
                frac = (t - segment.start_h) / (segment.end_h - segment.start_h)
                rate = (segment.rate_from + (segment.rate_to - segment.rate_from) * frac) * shape.rate_scale
                if rng.random() * peak <= rate:
                    arrivals.append((t, forge, False))
    for burst in shape.bursts:
        per_forge = math.ceil(burst.size / len(FORGES))
        for forge in FORGES:
            arrivals.extend((burst.at_h, forge, True) for _ in range(per_forge))
    arrivals.sort(key=lambda a: (a[0], a[1]))
    return Trace(
        shape,
        hour_sim_s,
        time_scale,
        tuple(
            Arrival(
                round(at_h * hour_sim_s, 3),
                forge,
                round(rng.uniform(*durations_s), 1),
                burst,
                f"warm-{i + 1}{'-burst' if burst else ''}",
            )
            for i, (at_h, forge, burst) in enumerate(arrivals)
        ),
        durations_s,
        seed,
    )
