"""One pool's preflight: discover its topology, then run every check over it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runner_fleet.ports.preflight import PreflightReport
from runner_fleet.preflight.checks import run_checks
from runner_fleet.preflight.checks.endpoints import approved
from runner_fleet.preflight.discovery import discover
from runner_fleet.preflight.reader import TopologyReader
from runner_fleet.preflight.topology import PoolTopology
from runner_fleet.settings.pool import Pool
from runner_fleet.settings.service import ServiceSettings


@dataclass(frozen=True)
class Preflight:
    report: PreflightReport
    topology: PoolTopology


async def run_preflight(
    pool: Pool,
    reader: TopologyReader,
    *,
    pools: Sequence[Pool] = (),
    settings: ServiceSettings,
) -> Preflight:
    """`pools`: every configured pool, so a subnet shared by several is sized for all of them.
    `settings`: the service's, which name the forge hosts runners must reach."""
    topology = await discover(pool, reader, pools=pools, settings=settings)
    report = PreflightReport(pool.name, run_checks(pool, topology), endpoints=endpoint_names(topology))
    return Preflight(report, topology)


def endpoint_names(topology: PoolTopology) -> tuple[str, ...]:
    """The DNS names of the pool's approved private endpoints (customDnsConfigs), sorted."""
    names = {fqdn.lower() for check in topology.endpoints for pe in approved(check) for fqdn in pe.fqdns}
    return tuple(sorted(names))
