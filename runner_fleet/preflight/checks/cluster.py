"""`cluster`: the private cluster the pool deploys to can be found, and is private."""

from __future__ import annotations

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.common import failed, passed, unreadable, warned
from runner_fleet.preflight.ids import name_of
from runner_fleet.preflight.topology import PoolTopology

NAME = "cluster"


def check_cluster(topology: PoolTopology) -> CheckResult:
    found = topology.cluster
    if found is None:
        return passed(NAME, "-", "no private cluster configured: only the subnet and placement are checked")
    if found.error is not None:
        return unreadable(NAME, found, "AKS cluster", role="Azure Kubernetes Service Cluster User or Reader")
    api = found.value
    if api is None:
        return failed(
            NAME,
            found.resource,
            f"AKS cluster {name_of(found.resource)} not found",
            "check cluster.aks_cluster_id (subscription, resource group and name)",
        )
    if not api.private:
        return warned(
            NAME,
            api.resource,
            f"{name_of(api.resource)} is not a private cluster: its API server {api.fqdn} is public",
            "nothing to check for a public API server; set enablePrivateCluster if it should be private",
        )
    if not api.fqdn:
        return failed(
            NAME,
            api.resource,
            f"{name_of(api.resource)} reports no private FQDN for its API server",
            "set cluster.api_server_fqdn to the cluster's private FQDN",
        )
    if api.zone_mode == "none":
        where = "public DNS (privateDNSZone none)"
    elif api.zone_id:
        where = f"private DNS zone {name_of(api.zone_id)}"
    else:
        return failed(
            NAME,
            api.resource,
            f"no private DNS zone found for {api.fqdn}",
            "set cluster.dns_zone_id to the zone holding the API server's A record",
        )
    origin = f"AKS cluster {name_of(api.resource)}" if api.source == "aks" else "configured"
    return passed(NAME, api.resource, f"API server {api.fqdn} in {where} ({origin})")
