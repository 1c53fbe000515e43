"""The named checks, in the order a report lists them. Each reads only the discovered topology.

`private-endpoint` gives one result per entry of the pool's `private_endpoints` (none without)."""

from __future__ import annotations

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.cluster import check_cluster
from runner_fleet.preflight.checks.dns import check_custom_dns, check_links, check_record
from runner_fleet.preflight.checks.egress import check_egress
from runner_fleet.preflight.checks.endpoints import check_endpoints
from runner_fleet.preflight.checks.isolation import check_isolation
from runner_fleet.preflight.checks.nsg import check_inbound, check_outbound
from runner_fleet.preflight.checks.peering import check_peering
from runner_fleet.preflight.checks.placement import check_image, check_location, check_sizes
from runner_fleet.preflight.checks.subnet import check_capacity, check_delegation, check_exists
from runner_fleet.preflight.topology import PoolTopology
from runner_fleet.settings.pool import Pool

CHECK_NAMES = (
    "cluster",
    "subnet",
    "peering",
    "dns-link",
    "dns-record",
    "custom-dns",
    "subnet-capacity",
    "subnet-delegation",
    "nsg-inbound",
    "nsg-outbound",
    "nsg-isolation",
    "egress",
    "private-endpoint",
    "location",
    "vm-sizes",
    "image",
)


def run_checks(pool: Pool, topology: PoolTopology) -> tuple[CheckResult, ...]:
    results: list[CheckResult | None] = [check_cluster(topology)]
    missing = check_exists(topology)
    if missing is not None:
        # Without the runner subnet and VNet the network checks have nothing to look at.
        results.append(missing)
    else:
        results += [check_peering(topology), *check_links(topology), check_record(topology)]
        results += [check_custom_dns(topology), check_capacity(topology), check_delegation(topology)]
        results += [check_inbound(topology), check_outbound(topology), check_isolation(topology)]
        results += [check_egress(topology), *check_endpoints(topology)]
        results.append(check_location(pool, topology))
    results += [check_sizes(pool, topology), check_image(pool, topology)]
    return tuple(r for r in results if r is not None)


__all__ = ["CHECK_NAMES", "run_checks"]
