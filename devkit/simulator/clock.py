"""Simulated time: durations are given in simulated seconds and elapse `time_scale` times faster."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SimClock:
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")

    def real(self, sim_seconds: float) -> float:
        """Real seconds that `sim_seconds` of simulated time take."""
        return sim_seconds / self.time_scale

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, self.real(sim_seconds)))

    @staticmethod
    def now() -> float:
        """Wall-clock epoch seconds (timestamps stay real so they line up with the service's logs)."""
        return time.time()
