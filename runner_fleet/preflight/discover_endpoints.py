"""Discovering private endpoints (`private-endpoint`): an endpoint ID is read; for a registry or
vault, the endpoints of the resource's and the runner VNet's subscriptions whose connection targets
it. Their DNS zone groups give the zones to link (role `endpoint`) and the A records to look up; the
endpoints of the other pools behind the same NSG give the addresses it must let through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from runner_fleet.preflight.ids import is_private_endpoint_id, parse, same
from runner_fleet.preflight.lookup import lookup
from runner_fleet.preflight.reader import ReadError, TopologyReader
from runner_fleet.preflight.topology import (
    EndpointCheck,
    Lookup,
    PoolTopology,
    PrivateEndpointFacts,
    ZoneCheck,
)
from runner_fleet.settings.pool import Pool


class EndpointFinder:
    """Finds the endpoints of a `private_endpoints` entry, listing each subscription once."""

    def __init__(self, reader: TopologyReader, runner_subscription: str) -> None:
        self._reader = reader
        self._runner_subscription = runner_subscription
        self._listed: dict[str, Lookup[list[PrivateEndpointFacts]]] = {}
        self._read: dict[str, Lookup[PrivateEndpointFacts]] = {}

    def subscriptions(self, entry: str) -> list[str]:
        return list(dict.fromkeys([parse(entry).subscription, self._runner_subscription]))

    async def find(self, entry: str) -> Lookup[tuple[PrivateEndpointFacts, ...]]:
        if is_private_endpoint_id(entry):
            key = entry.lower()
            if key not in self._read:
                self._read[key] = await lookup(entry, self._reader.private_endpoint(entry))
            found = self._read[key]
            return Lookup(entry, (found.value,) if found.value is not None else None, found.error)
        matches: list[PrivateEndpointFacts] = []
        errors: list[str] = []
        for subscription in self.subscriptions(entry):
            listed = await self._list(subscription)
            if listed.error is not None:
                errors.append(listed.error)
            matches += [pe for pe in listed.value or () if pe.connections_to(entry)]
        if not matches and errors:
            return Lookup(entry, error=errors[0])
        unique = {pe.id.lower(): pe for pe in matches}
        return Lookup(entry, tuple(unique.values()))

    async def _list(self, subscription: str) -> Lookup[list[PrivateEndpointFacts]]:
        key = subscription.lower()
        if key not in self._listed:
            self._listed[key] = await lookup(
                f"/subscriptions/{subscription}", self._reader.private_endpoints_in(subscription)
            )
        return self._listed[key]


async def with_endpoints(
    pool: Pool, finder: EndpointFinder, reader: TopologyReader, topology: PoolTopology
) -> PoolTopology:
    if not pool.private_endpoints or topology.subnet.value is None:
        return topology
    checks: list[EndpointCheck] = []
    zones = list(topology.zones)
    records: dict[str, Lookup[tuple[str, ...]]] = {}
    for entry in pool.private_endpoints:
        found = await finder.find(entry)
        endpoints = tuple([await _with_zone_groups(reader, pe) for pe in found.value or ()])
        for pe in endpoints:
            for config in (c for group in pe.zone_groups or () for c in group.configs):
                if not any(same(config.zone_id, z.zone.resource) for z in zones):
                    zones.append(
                        ZoneCheck(await lookup(config.zone_id, reader.zone(config.zone_id)), "endpoint")
                    )
                for record in config.records:
                    resource = f"{config.zone_id}/A/{record.name}"
                    if record.record_type.upper() == "A" and resource.lower() not in records:
                        records[resource.lower()] = await lookup(
                            resource, reader.a_record(config.zone_id, record.name)
                        )
        wanted = {
            f"{c.zone_id}/A/{r.name}".lower()
            for pe in endpoints
            for group in pe.zone_groups or ()
            for c in group.configs
            for r in c.records
        }
        checks.append(
            EndpointCheck(
                entry,
                Lookup(entry, endpoints if found.value is not None else None, found.error),
                tuple(v for k, v in records.items() if k in wanted),
                tuple(finder.subscriptions(entry)) if not is_private_endpoint_id(entry) else (),
            )
        )
    return replace(topology, endpoints=tuple(checks), zones=tuple(zones))


async def _with_zone_groups(reader: TopologyReader, pe: PrivateEndpointFacts) -> PrivateEndpointFacts:
    try:
        return replace(pe, zone_groups=await reader.zone_groups(pe.id))
    except ReadError as exc:
        return replace(pe, zone_groups_error=str(exc))


async def with_subnet_endpoints(
    pool: Pool, sharing: Sequence[Pool], finder: EndpointFinder, topology: PoolTopology
) -> PoolTopology:
    """The endpoint addresses of the other pools in the subnet (from their customDnsConfigs)."""
    addresses: list[str] = []
    for other in sharing:
        if other.name == pool.name:
            continue
        for entry in other.private_endpoints:
            found = await finder.find(entry)
            for pe in found.value or ():
                addresses += [a for a in pe.addresses if a not in addresses]
    return replace(topology, subnet_endpoint_addresses=tuple(addresses))
