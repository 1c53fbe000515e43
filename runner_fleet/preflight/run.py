"""One pool's preflight: discover its topology, then run every check over it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runner_fleet.ports.preflight import PreflightReport
from runner_fleet.preflight.checks import run_checks
from runner_fleet.preflight.discovery import discover
from runner_fleet.preflight.reader import TopologyReader
from runner_fleet.preflight.topology import PoolTopology
from runner_fleet.settings.pool import Pool


@dataclass(frozen=True)
class Preflight:
    report: PreflightReport
    topology: PoolTopology


async def run_preflight(pool: Pool, reader: TopologyReader, *, pools: Sequence[Pool] = ()) -> Preflight:
    """`pools`: every configured pool, so a subnet shared by several is sized for all of them."""
    topology = await discover(pool, reader, pools=pools)
    return Preflight(PreflightReport(pool.name, run_checks(pool, topology)), topology)
