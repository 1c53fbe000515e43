"""`dns-link`: every zone the pool needs is linked to the runner VNet, Completed and Succeeded.
`dns-record`: the API server FQDN has an A record there with a private (RFC 1918) address.
`custom-dns`: the runner VNet uses Azure DNS, or (warn) custom servers that must forward to it; ARM
cannot show what those servers do, a probe VM in the subnet can (`doctor --probe`)."""

from __future__ import annotations

import ipaddress

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.common import failed, passed, unreadable, warned
from runner_fleet.preflight.ids import name_of, same
from runner_fleet.preflight.names import in_zone, relative_name
from runner_fleet.preflight.topology import PoolTopology, VNetFacts, ZoneCheck

LINK = "dns-link"
RECORD = "dns-record"
CUSTOM_DNS = "custom-dns"
AZURE_DNS = "168.63.129.16"
RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


# What a zone is to the pool, and where its ID comes from.
_ROLES = {
    "api-server": ("the cluster's zone", "cluster.dns_zone_id"),
    "extra": ("extra zone", "cluster.extra_dns_zone_ids"),
    "endpoint": ("private endpoint zone", "the DNS zone group of the private endpoint"),
}


def check_links(topology: PoolTopology) -> list[CheckResult]:
    runner = topology.runner_vnet.value
    api = topology.cluster.value if topology.cluster is not None else None
    if runner is None:
        return []
    results = []
    if api is not None and api.private and api.zone_mode == "none":
        results.append(
            passed(LINK, api.resource, f"privateDNSZone is none: {api.fqdn} resolves through public DNS")
        )
    results += [_link(zone, runner) for zone in topology.zones]
    return results


def _link(check: ZoneCheck, runner: VNetFacts) -> CheckResult:
    found = check.zone
    what, setting = _ROLES[check.role]
    if found.error is not None:
        return unreadable(LINK, found, "private DNS zone", role="Private DNS Zone Reader")
    zone = found.value
    if zone is None:
        return failed(LINK, found.resource, f"{what} {name_of(found.resource)} not found", f"check {setting}")
    link = next((lk for lk in zone.links if same(lk.vnet_id, runner.id)), None)
    if link is None:
        return failed(
            LINK,
            zone.id,
            f"{zone.name} has no virtual network link to {runner.name}: its names do not resolve on "
            "runner VMs (peering does not carry DNS)",
            f"link {zone.name} to {runner.name} (runner-fleet doctor --fix creates the link)",
        )
    if link.provisioning_state != "Succeeded" and link.provisioning_state not in ("Creating", "Updating"):
        return failed(
            LINK,
            link.id,
            f"link '{link.name}' of {zone.name} to {runner.name} is {link.provisioning_state}",
            f"delete link '{link.name}' and create it again",
        )
    if link.state != "Completed" or link.provisioning_state != "Succeeded":
        return failed(
            LINK,
            link.id,
            f"link '{link.name}' of {zone.name} to {runner.name} is {link.state or 'not ready'} "
            f"(provisioning {link.provisioning_state}): names do not resolve yet",
            "wait until the link is Completed (usually under a minute), then run the preflight again",
        )
    return passed(LINK, link.id, f"{zone.name} linked to {runner.name} ('{link.name}': Completed, Succeeded)")


def check_record(topology: PoolTopology) -> CheckResult | None:
    api = topology.cluster.value if topology.cluster is not None else None
    if api is None or not api.private or api.zone_mode != "zone" or not api.fqdn:
        return None
    zone_check = next((z for z in topology.zones if z.role == "api-server"), None)
    zone = zone_check.zone.value if zone_check is not None else None
    if zone is None:
        return None  # dns-link already says why the zone is unusable
    if not in_zone(api.fqdn, zone.name):
        return failed(
            RECORD,
            zone.id,
            f"{api.fqdn} is not a name in zone {zone.name}",
            "set cluster.dns_zone_id to the zone that holds the API server's name",
        )
    found = topology.api_addresses
    assert found is not None
    if found.error is not None:
        return unreadable(RECORD, found, "record set", role="Private DNS Zone Reader")
    relative = relative_name(api.fqdn, zone.name)
    if not found.value:
        return failed(
            RECORD,
            found.resource,
            f"zone {zone.name} has no A record '{relative}': {api.fqdn} does not resolve",
            "check cluster.api_server_fqdn against the cluster's privateFQDN "
            "(az aks show --query privateFqdn)",
        )
    public = [a for a in found.value if not is_rfc1918(a)]
    if public:
        return failed(
            RECORD,
            found.resource,
            f"{api.fqdn} resolves to {', '.join(public)} in {zone.name}: not a private (RFC 1918) address",
            "point the A record at the API server's private endpoint address",
        )
    return passed(RECORD, found.resource, f"{api.fqdn} -> {', '.join(found.value)} (private)")


def is_rfc1918(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in RFC1918)


def check_custom_dns(topology: PoolTopology) -> CheckResult | None:
    runner = topology.runner_vnet.value
    if runner is None:
        return None
    servers = [s for s in runner.dns_servers if s]
    if not servers or all(s == AZURE_DNS for s in servers):
        return passed(CUSTOM_DNS, runner.id, f"{runner.name} uses Azure-provided DNS ({AZURE_DNS})")
    zones = [z.zone.value.name for z in topology.zones if z.zone.value is not None]
    forward = ", ".join(zones) if zones else "queries"
    return warned(
        CUSTOM_DNS,
        runner.id,
        f"{runner.name} uses custom DNS servers {', '.join(servers)}: linked private zones resolve only if "
        f"they forward to {AZURE_DNS}",
        f"forward {forward} to {AZURE_DNS} from those servers, or use Azure-provided DNS; "
        "`runner-fleet doctor --probe` resolves the names from the subnet and gives the verdict",
    )
