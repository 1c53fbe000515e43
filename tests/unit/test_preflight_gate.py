"""The provisioning gate (cache, one run per pool at a time, logging once per failure set), discovery
over an in-memory reader, and what `--fix` plans."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace

import pytest

from runner_fleet import logs
from runner_fleet.preflight.discovery import discover
from runner_fleet.preflight.fix import apply_link_fixes, plan_link_fixes
from runner_fleet.preflight.gate import AzurePreflightGate
from runner_fleet.preflight.run import run_preflight
from runner_fleet.preflight.topology import AksFacts
from tests.builders import DEFAULT_SETTINGS
from tests.unit.preflight_world import (
    AKS_ID,
    CLUSTER_VNET,
    RUNNER_VNET,
    ZONE,
    MemoryTopologyReader,
    cluster_pool,
    healthy_reader,
    link,
    zone,
)

POOL = cluster_pool()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unlinked(reader: MemoryTopologyReader) -> MemoryTopologyReader:
    reader.zones[ZONE.lower()] = zone(link(CLUSTER_VNET, "link-vnet-aks"))
    return reader


def events(stream: io.StringIO, name: str) -> list[dict[str, object]]:
    found = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [e for e in found if e.get("event") == name]


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    return stream


async def test_a_pool_report_is_cached_and_refreshed_after_the_ttl() -> None:
    """Within the TTL the gate answers from its cache; after it, Azure is read again."""
    reader, clock = healthy_reader(), Clock()
    gate = AzurePreflightGate(lambda: reader, (POOL,), ttl_s=300, clock=clock, settings=DEFAULT_SETTINGS)
    first = await gate.check(POOL)
    reads = reader.reads
    assert first.ok and reads > 0
    clock.now += 299
    assert await gate.check(POOL) is first and reader.reads == reads
    clock.now += 2
    await gate.check(POOL)
    assert reader.reads == 2 * reads


async def test_a_failing_pool_is_looked_at_again_sooner() -> None:
    """A failing report lives `failing_ttl_s`, so a fix is noticed within a minute, not five."""
    reader, clock = unlinked(healthy_reader()), Clock()
    gate = AzurePreflightGate(
        lambda: reader, (POOL,), ttl_s=300, failing_ttl_s=60, clock=clock, settings=DEFAULT_SETTINGS
    )
    assert not (await gate.check(POOL)).ok
    reader.zones[ZONE.lower()] = zone(link(CLUSTER_VNET, "a"), link(RUNNER_VNET, "b"))
    clock.now += 59
    assert not (await gate.check(POOL)).ok
    clock.now += 2
    assert (await gate.check(POOL)).ok


async def test_concurrent_checks_of_one_pool_share_one_run() -> None:
    """A burst of jobs for one pool reads Azure once, not once per job."""
    reader = healthy_reader()
    gate = AzurePreflightGate(lambda: reader, (POOL,), settings=DEFAULT_SETTINGS)
    single = MemoryTopologyReader(**{**healthy_reader().__dict__, "reads": 0})
    await run_preflight(POOL, single, pools=(POOL,), settings=DEFAULT_SETTINGS)
    reports = await asyncio.gather(*(gate.check(POOL) for _ in range(10)))
    assert len({id(r) for r in reports}) == 1
    assert reader.reads == single.reads


async def test_a_failing_pool_is_logged_once_per_failure_set(captured: io.StringIO) -> None:
    """Same failures again: no new log line; a different failure set or recovery: one line each."""
    reader, clock = unlinked(healthy_reader()), Clock()
    gate = AzurePreflightGate(
        lambda: reader, (POOL,), ttl_s=0, failing_ttl_s=0, clock=clock, settings=DEFAULT_SETTINGS
    )
    for _ in range(3):
        await gate.check(POOL)
    failed = events(captured, "preflight.failed")
    assert len(failed) == 1
    assert failed[0]["pool"] == "aks-prod"
    assert failed[0]["failing"] == [
        "dns-link: privatelink.westeurope.azmk8s.io has no virtual network link to vnet-runners: "
        "its names do not resolve on runner VMs (peering does not carry DNS)"
    ]
    assert "doctor --fix" in str(failed[0]["fixes"])
    reader.records.clear()  # now the A record is gone too: a new failure set
    await gate.check(POOL)
    await gate.check(POOL)
    assert len(events(captured, "preflight.failed")) == 2
    reader.zones[ZONE.lower()] = zone(link(RUNNER_VNET, "b"))
    reader.records[f"{ZONE}/A/aks-prod-7f3a9c2e".lower()] = ("10.10.0.4",)
    await gate.check(POOL)
    await gate.check(POOL)
    assert len(events(captured, "preflight.passed")) == 1


async def test_a_preflight_that_cannot_run_fails_closed_and_retries_soon(captured: io.StringIO) -> None:
    """An unexpected error is a failing `preflight` check (no VM), cached only `error_ttl_s`, which the
    report names so that a job held back is tried again then."""
    reader, clock = healthy_reader(), Clock()
    reader.fail_with = ConnectionResetError("connection reset by peer")
    gate = AzurePreflightGate(lambda: reader, (POOL,), error_ttl_s=30, clock=clock, settings=DEFAULT_SETTINGS)
    report = await gate.check(POOL)
    assert not report.ok and [c.name for c in report.failures] == ["preflight"]
    assert report.recheck_in_s == 30
    clock.now += 10
    assert (await gate.check(POOL)).recheck_in_s == 20
    assert "ConnectionResetError" in report.failures[0].message
    reader.fail_with = None
    clock.now += 31
    assert (await gate.check(POOL)).ok
    assert len(events(captured, "preflight.error")) == 1


async def test_invalidate_and_close() -> None:
    """`invalidate` forgets cached reports; `close` closes the reader it built."""
    reader = healthy_reader()
    gate = AzurePreflightGate(lambda: reader, (POOL,), settings=DEFAULT_SETTINGS)
    await gate.check(POOL)
    reads = reader.reads
    gate.invalidate("aks-prod")
    await gate.check(POOL)
    assert reader.reads == 2 * reads
    await gate.close()
    assert reader.closed


async def test_discovery_finds_the_cluster_vnet_from_the_api_server_address() -> None:
    """With a configured FQDN, the cluster VNet is the peered VNet whose address space holds the A record."""
    topology = await discover(POOL, healthy_reader(), pools=(POOL,), settings=DEFAULT_SETTINGS)
    assert topology.cluster_vnet is not None and topology.cluster_vnet.resource == CLUSTER_VNET
    assert topology.api_addresses is not None and topology.api_addresses.value == ("10.10.0.4",)


async def test_discovery_finds_an_aks_system_zone_in_the_node_resource_group() -> None:
    """An AKS cluster with privateDNSZone `system`: the zone in its node resource group ending its FQDN."""
    reader = healthy_reader()
    node_zone = ZONE.replace("rg-aks", "MC_rg-aks_aks-prod_westeurope")
    reader.zones[node_zone.lower()] = replace(zone(link(RUNNER_VNET, "r")), id=node_zone)
    reader.zones_by_group["mc_rg-aks_aks-prod_westeurope"] = [node_zone]
    reader.records[f"{node_zone}/A/aks-prod-7f3a9c2e".lower()] = ("10.10.0.4",)
    reader.clusters[AKS_ID.lower()] = AksFacts(
        AKS_ID,
        "aks-prod",
        "westeurope",
        private=True,
        private_fqdn="aks-prod-7f3a9c2e.privatelink.westeurope.azmk8s.io",
        public_fqdn=None,
        private_dns_zone="system",
        node_resource_group="MC_rg-aks_aks-prod_westeurope",
        node_subnet_ids=(f"{CLUSTER_VNET}/subnets/nodes",),
    )
    pool = cluster_pool(cluster={"api_server_fqdn": None, "dns_zone_id": None, "aks_cluster_id": AKS_ID})
    preflight = await run_preflight(pool, reader, pools=(pool,), settings=DEFAULT_SETTINGS)
    assert preflight.report.ok, preflight.report.failures
    assert preflight.topology.zones[0].zone.resource == node_zone
    assert (
        preflight.topology.cluster_vnet is not None
        and preflight.topology.cluster_vnet.resource == CLUSTER_VNET
    )


async def test_a_cluster_with_no_private_zone_needs_no_link() -> None:
    """privateDNSZone `none`: the FQDN is in public DNS; dns-link says so and nothing fails."""
    reader = healthy_reader()
    reader.clusters[AKS_ID.lower()] = AksFacts(
        AKS_ID,
        "aks-prod",
        "westeurope",
        True,
        "aks-prod.hcp.westeurope.azmk8s.io",
        None,
        "none",
        "MC_x",
        (f"{CLUSTER_VNET}/subnets/nodes",),
    )
    pool = cluster_pool(cluster={"api_server_fqdn": None, "dns_zone_id": None, "aks_cluster_id": AKS_ID})
    report = (await run_preflight(pool, reader, pools=(pool,), settings=DEFAULT_SETTINGS)).report
    assert report.ok
    assert [c.message for c in report.checks if c.name == "dns-link"] == [
        "privateDNSZone is none: aks-prod.hcp.westeurope.azmk8s.io resolves through public DNS"
    ]


async def test_fix_plans_one_link_per_zone_and_vnet_and_creates_only_that() -> None:
    """Two pools in the same unlinked VNet need one link; an existing link is never planned."""
    reader = unlinked(healthy_reader())
    second = cluster_pool("aks-two")
    runs = [
        await run_preflight(p, reader, pools=(POOL, second), settings=DEFAULT_SETTINGS)
        for p in (POOL, second)
    ]
    fixes = plan_link_fixes([r.topology for r in runs])
    assert [(f.zone_id, f.vnet_id, f.name, f.pools) for f in fixes] == [
        (ZONE, RUNNER_VNET, "link-vnet-runners", ("aks-prod", "aks-two"))
    ]
    outcomes = await apply_link_fixes(reader, fixes)
    assert [o.sentence() for o in outcomes] == [
        "created link 'link-vnet-runners' from privatelink.westeurope.azmk8s.io to vnet-runners "
        "(Completed, Succeeded)"
    ]
    again = await run_preflight(POOL, reader, pools=(POOL,), settings=DEFAULT_SETTINGS)
    assert again.report.ok and plan_link_fixes([again.topology]) == []
