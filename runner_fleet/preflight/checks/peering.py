"""`peering`: the runner VNet is the cluster's VNet, or peered with it both ways, Connected,
FullyInSync and allowing virtual network access (peering does not carry DNS: see `dns-link`)."""

from __future__ import annotations

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.common import failed, passed, warned
from runner_fleet.preflight.ids import name_of, parse, same
from runner_fleet.preflight.topology import PeeringFacts, PoolTopology, VNetFacts

NAME = "peering"


def check_peering(topology: PoolTopology) -> CheckResult | None:
    runner = topology.runner_vnet.value
    api = topology.cluster.value if topology.cluster is not None else None
    if runner is None or api is None or not api.private:
        return None
    found = topology.cluster_vnet
    if found is None:
        address = (
            topology.api_addresses.value[0]
            if topology.api_addresses and topology.api_addresses.value
            else None
        )
        where = (
            f"no VNet peered with {runner.name} or linked to the zone holds {address}"
            if address
            else ("the API server's address is unknown")
        )
        return warned(
            NAME,
            runner.id,
            f"cannot tell the cluster's VNet ({where}); peering not checked",
            "configure cluster.aks_cluster_id so the cluster's VNet is known",
        )
    if same(found.resource, runner.id):
        return passed(NAME, runner.id, f"{runner.name} is the cluster's VNet: no peering needed")
    if found.error is not None and found.value is None:
        return _one_side_only(runner, found.resource, found.error)
    cluster = found.value
    if cluster is None:
        return failed(
            NAME,
            found.resource,
            f"the cluster's VNet {name_of(found.resource)} does not exist",
            "check the AKS cluster's subnet settings",
        )
    return _both_sides(runner, cluster)


def _towards(vnet: VNetFacts, remote_id: str) -> PeeringFacts | None:
    return next((p for p in vnet.peerings if same(p.remote_vnet_id, remote_id)), None)


def _both_sides(runner: VNetFacts, cluster: VNetFacts) -> CheckResult:
    out, back = _towards(runner, cluster.id), _towards(cluster, runner.id)
    pair = f"{runner.name} <-> {cluster.name}"
    if out is None and back is None:
        return failed(
            NAME,
            runner.id,
            f"{runner.name} and {cluster.name} are not peered: runner VMs cannot reach the API server",
            f"peer {runner.name} and {cluster.name} in both directions, allowing virtual network access",
        )
    if out is None:
        assert back is not None
        return failed(
            NAME,
            back.id,
            f"{cluster.name} has peering '{back.name}' to {runner.name} ({back.state}), "
            f"but {runner.name} has no peering to {cluster.name}",
            f"create the peering from {runner.name} to {cluster.name} ({_rg(runner.id)}); both sides then "
            "turn Connected",
        )
    if back is None:
        return failed(
            NAME,
            out.id,
            f"peering '{out.name}' ({runner.name} -> {cluster.name}) is {out.state}: "
            f"{cluster.name} has no peering back",
            f"create the peering from {cluster.name} to {runner.name} ({_rg(cluster.id)})",
        )
    for side, local, remote in ((out, runner, cluster), (back, cluster, runner)):
        problem = _problem(side, local, remote)
        if problem is not None:
            return problem
    return passed(
        NAME,
        out.id,
        f"{pair} peered both ways: Connected, FullyInSync, virtual network access allowed",
    )


def _problem(peering: PeeringFacts, local: VNetFacts, remote: VNetFacts) -> CheckResult | None:
    label = f"peering '{peering.name}' ({local.name} -> {remote.name})"
    if peering.state == "Disconnected":
        return failed(
            NAME,
            peering.id,
            f"{label} is Disconnected: the peering from {remote.name} was deleted or re-created",
            f"delete and re-create '{peering.name}' on {local.name}, then check {remote.name}'s side",
        )
    if peering.state != "Connected":
        return failed(
            NAME,
            peering.id,
            f"{label} is {peering.state}, not Connected",
            f"make sure {remote.name} has a peering back to {local.name}; both sides must be Connected",
        )
    if peering.sync_level != "FullyInSync":
        return failed(
            NAME,
            peering.id,
            f"{label} is {peering.sync_level}: an address space changed since the peering was synced",
            f"sync it: az network vnet peering sync -g {parse(local.id).resource_group} "
            f"--vnet-name {local.name} -n {peering.name}",
        )
    if not peering.allow_virtual_network_access:
        return failed(
            NAME,
            peering.id,
            f"{label} does not allow virtual network access",
            f"set allowVirtualNetworkAccess to true on '{peering.name}'",
        )
    return None


def _one_side_only(runner: VNetFacts, cluster_id: str, error: str) -> CheckResult:
    out = _towards(runner, cluster_id)
    if out is None:
        return failed(
            NAME,
            runner.id,
            f"{runner.name} has no peering to the cluster's VNet {name_of(cluster_id)}",
            f"peer {runner.name} and {name_of(cluster_id)} in both directions",
        )
    problem = _problem(out, runner, VNetFacts(cluster_id, name_of(cluster_id), "", ()))
    if problem is not None:
        return problem
    return warned(
        NAME,
        out.id,
        f"'{out.name}' ({runner.name} -> {name_of(cluster_id)}) is Connected and FullyInSync; "
        f"the other side could not be read ({error})",
        f"grant the provisioner's identity Reader on {name_of(cluster_id)} to check both sides",
    )


def _rg(resource_id: str) -> str:
    return f"resource group {parse(resource_id).resource_group}"
