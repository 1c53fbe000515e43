"""`doctor --fix`: create the private DNS zone links runner VNets are missing, and nothing else.

A link is the one repair that is both safe (it only makes names resolvable in one more VNet) and
unambiguous; peerings, DNS servers, subnets and NSG rules belong to whoever owns the network, so
the report explains them instead. A link is created with If-None-Match, never replacing one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from runner_fleet.preflight.ids import name_of, parse, same
from runner_fleet.preflight.reader import ReadError, TopologyReader
from runner_fleet.preflight.topology import PoolTopology

_LINK_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class LinkFix:
    zone_id: str
    vnet_id: str
    name: str
    pools: tuple[str, ...]


@dataclass(frozen=True)
class FixOutcome:
    fix: LinkFix
    created: bool
    detail: str  # the link's state once created, or why it could not be

    def document(self) -> dict[str, str]:
        return {
            "action": "create-dns-link",
            "outcome": "created" if self.created else "failed",
            "zone": self.fix.zone_id,
            "vnet": self.fix.vnet_id,
            "link": self.fix.name,
            "pools": ", ".join(self.fix.pools),
            "detail": self.detail,
        }

    def sentence(self) -> str:
        zone, vnet = name_of(self.fix.zone_id), name_of(self.fix.vnet_id)
        if self.created:
            return f"created link '{self.fix.name}' from {zone} to {vnet} ({self.detail})"
        return f"could not create link '{self.fix.name}' from {zone} to {vnet}: {self.detail}"


def plan_link_fixes(topologies: Sequence[PoolTopology]) -> list[LinkFix]:
    """One link per (zone, runner VNet) that lacks one, whichever pools need it."""
    planned: dict[tuple[str, str], LinkFix] = {}
    for topology in topologies:
        vnet = topology.runner_vnet.value
        if vnet is None:
            continue
        for check in topology.zones:
            zone = check.zone.value
            if zone is None or any(same(link.vnet_id, vnet.id) for link in zone.links):
                continue
            key = (zone.id.lower(), vnet.id.lower())
            if key in planned:
                previous = planned[key]
                planned[key] = LinkFix(zone.id, vnet.id, previous.name, (*previous.pools, topology.pool))
                continue
            taken = {link.name.lower() for link in zone.links}
            planned[key] = LinkFix(zone.id, vnet.id, _link_name(vnet.id, taken), (topology.pool,))
    return list(planned.values())


def _link_name(vnet_id: str, taken: set[str]) -> str:
    vnet = parse(vnet_id)
    for candidate in (f"link-{vnet.name}", f"link-{vnet.resource_group}-{vnet.name}"):
        name = _LINK_NAME.sub("-", candidate)[:80]
        if name.lower() not in taken:
            return name
    return _LINK_NAME.sub("-", f"link-{vnet.subscription[:8]}-{vnet.resource_group}-{vnet.name}")[:80]


async def apply_link_fixes(reader: TopologyReader, fixes: Sequence[LinkFix]) -> list[FixOutcome]:
    outcomes = []
    for fix in fixes:
        try:
            link = await reader.create_link(fix.zone_id, fix.vnet_id, fix.name)
        except ReadError as exc:
            outcomes.append(FixOutcome(fix, created=False, detail=str(exc)))
            continue
        outcomes.append(FixOutcome(fix, created=True, detail=f"{link.state}, {link.provisioning_state}"))
    return outcomes
