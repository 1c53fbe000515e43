"""What a pool's probe VM tries: the API server, every private endpoint name, and the forge's essential hosts.

The API server and the private endpoints must resolve to a private address (a public answer means the
private DNS zone is not what the VM asks); the forge's hosts may resolve to any address. Forge hosts
are only those needed for essential operations: a runner that reaches them registers and takes jobs,
and a wildcard is probed through one concrete name under it (`ForgeHost.probe_name`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from runner_fleet.preflight.forge_hosts import forge_hosts
from runner_fleet.preflight.ids import name_of
from runner_fleet.preflight.topology import PoolTopology
from runner_fleet.settings.pool import Pool
from runner_fleet.settings.service import ServiceSettings

TargetKind = Literal["api-server", "endpoint", "forge"]
Expect = Literal["private", "any"]
HTTPS = 443


@dataclass(frozen=True)
class ProbeTarget:
    target: TargetKind
    name: str  # what the operator knows it by: the cluster, the endpoint's name, the forge host
    fqdn: str  # what the VM resolves and connects to
    port: int = HTTPS
    expect: Expect = "any"

    @property
    def key(self) -> tuple[str, str, int]:
        """What a console result is matched on."""
        return self.target, self.fqdn.lower().rstrip("."), self.port

    def document(self) -> dict[str, Any]:
        """The target as probe.json carries it (the probe contract)."""
        return {
            "target": self.target,
            "name": self.name,
            "fqdn": self.fqdn,
            "port": self.port,
            "expect": self.expect,
        }


def probe_targets(
    pool: Pool,
    settings: ServiceSettings,
    topology: PoolTopology | None = None,
    endpoints: Sequence[str] = (),
) -> tuple[ProbeTarget, ...]:
    """The pool's targets, API server first, each name once.

    `topology` is what the pool's preflight found (the API server's FQDN as AKS reports it, which
    may differ from a configured one); `endpoints` the private endpoint names it found
    (`PreflightReport.endpoints`).
    """
    found: list[ProbeTarget] = []
    api = _api_server(pool, topology)
    if api is not None:
        found.append(api)
    found += [ProbeTarget("endpoint", fqdn, fqdn, HTTPS, "private") for fqdn in endpoints if fqdn]
    found += [
        ProbeTarget("forge", host.name, host.probe_name, HTTPS, "any")
        for host in forge_hosts(pool, settings)
        if host.need == "essential"
    ]
    seen: set[str] = set()
    unique = []
    for target in found:
        name = target.fqdn.lower().rstrip(".")
        if name not in seen:
            seen.add(name)
            unique.append(target)
    return tuple(unique)


def _api_server(pool: Pool, topology: PoolTopology | None) -> ProbeTarget | None:
    found = topology.cluster.value if topology is not None and topology.cluster is not None else None
    if found is not None and found.fqdn:
        label = name_of(found.resource) if found.source == "aks" else "api-server"
        return ProbeTarget("api-server", label, found.fqdn, HTTPS, "private" if found.private else "any")
    cluster = pool.cluster
    if cluster is not None and cluster.api_server_fqdn:
        return ProbeTarget("api-server", "api-server", cluster.api_server_fqdn, HTTPS, "private")
    return None
