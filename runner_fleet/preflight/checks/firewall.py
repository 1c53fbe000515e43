"""Azure Firewall rules as the firewall applies them to a runner's HTTPS connection to a forge host.

Processing (learn.microsoft.com/azure/firewall/rule-processing, .../policy-rule-sets): deny by
default; rules are terminating; DNAT rules first (inbound only: never a runner's connection), then
every network rule, then application rules. Within a type: the rule collection groups of a parent
(base) policy before the child's, then by group priority, then by collection priority (100 first).
A collection has one action for all its rules.

What a rule is matched on here: the flow is TCP 443 from the runner subnet's prefixes to a host
known by name, whose addresses are not known. So:
- an application rule matches when it has Https:443 and a target FQDN covering the host (the TLS
  SNI is matched against `targetFqdns`, `*.domain` wildcards included); web categories may match
  any host (cannot tell); FQDN tags name Microsoft services, never a forge's hosts;
- a network rule matches on TCP (or Any) and port 443 when its destination is `*` (or Internet,
  0.0.0.0/0), or when DNS proxy is on and one of its `destinationFqdns` is the host (without the
  proxy an FQDN in a network rule does not work); a public IP prefix, an IP group with public
  addresses or a service tag might hold the host's addresses: cannot tell;
- sources (addresses, ranges, IP groups) must hold the whole subnet; holding part of it: cannot tell.
A rule that cannot be told apart decides nothing by itself, but a verdict that such a rule could
have changed (it comes first and has the other action) is "unknown". Not modelled: threat
intelligence and IDPS (which may deny on their own), TLS inspection and URL rules (Premium),
explicit proxy, the infrastructure rule collection (Azure platform FQDNs, none a forge's).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from runner_fleet.preflight.checks.nsg_flows import HTTPS, Ranges, ports, span_of
from runner_fleet.preflight.forge_hosts import ForgeHost, host_matches
from runner_fleet.preflight.ids import name_of
from runner_fleet.preflight.topology import FirewallFacts, FirewallRule

Match = Literal["yes", "no", "maybe"]
Outcome = Literal["allowed", "denied", "unknown"]
HTTPS_PORT = 443
_EVERYWHERE = frozenset({"*", "any", "internet", "0.0.0.0/0"})


@dataclass(frozen=True)
class Verdict:
    host: ForgeHost
    outcome: Outcome
    rule: FirewallRule | None = None  # the deciding rule; None: no rule matched (default deny)
    doubt: str = ""  # for "unknown": why it cannot be told


def processing_order(rules: Sequence[FirewallRule]) -> list[FirewallRule]:
    """Network rules, then application rules; each by policy level (parent first), group and
    collection priority."""

    def key(rule: FirewallRule) -> tuple[int, int, int, int]:
        kind = 0 if rule.kind == "network" else 1
        return (kind, -rule.level, rule.group_priority, rule.collection_priority)

    return sorted(rules, key=key)


def evaluate(firewall: FirewallFacts, sources: Sequence[str], host: ForgeHost) -> Verdict:
    """What the firewall does with TCP 443 from `sources` (the subnet's prefixes) to `host`."""
    subnet = _spans(sources)
    groups = dict(firewall.ip_groups)
    doubts: list[tuple[FirewallRule, str]] = []
    for rule in processing_order(firewall.rules):
        match, why = _matches(rule, subnet, host, groups, firewall.dns_proxy)
        if match == "no":
            continue
        if match == "maybe":
            doubts.append((rule, why))
            continue
        against = [(r, w) for r, w in doubts if r.action.lower() != rule.action.lower()]
        if against:
            return Verdict(host, "unknown", rule, _doubt(*against[0]))
        return Verdict(host, "allowed" if rule.action.lower() == "allow" else "denied", rule)
    allowing = [(r, w) for r, w in doubts if r.action.lower() == "allow"]
    if allowing:
        return Verdict(host, "unknown", None, _doubt(*allowing[0]))
    return Verdict(host, "denied")


def label(rule: FirewallRule) -> str:
    """'rule-name' in collection 'c' (of the base policy): where a rule sits, in a few words."""
    where = f"'{rule.name}' in collection '{rule.collection}'"
    return where + (" of the base policy" if rule.inherited else "")


def _doubt(rule: FirewallRule, why: str) -> str:
    return f"{rule.kind} rule {label(rule)} ({rule.action}) {why}"


def _matches(
    rule: FirewallRule,
    subnet: Ranges,
    host: ForgeHost,
    groups: dict[str, tuple[str, ...]],
    dns_proxy: bool,
) -> tuple[Match, str]:
    source, source_why = _source(rule, subnet, groups)
    if source == "no":
        return "no", ""
    if rule.kind == "application":
        target, target_why = _application_target(rule, host)
    else:
        target, target_why = _network_target(rule, host, groups, dns_proxy)
    if target == "no":
        return "no", ""
    if source == "yes" and target == "yes":
        return "yes", ""
    return "maybe", " and ".join(w for w in (source_why, target_why) if w)


def _source(rule: FirewallRule, subnet: Ranges, groups: dict[str, tuple[str, ...]]) -> tuple[Match, str]:
    if any(s.strip().lower() in ("*", "any") for s in rule.sources):
        return "yes", ""
    covered = _spans(rule.sources)
    unread = []
    for group in rule.source_ip_groups:
        addresses = groups.get(group.lower())
        if addresses is None:
            unread.append(name_of(group))
        else:
            covered = covered | _spans(addresses)
    if not (subnet - covered):
        return "yes", ""
    if unread:
        return "maybe", f"names IP group {', '.join(unread)}, which could not be read"
    if subnet & covered:
        return "maybe", "covers only part of the runner subnet"
    return "no", ""


def _application_target(rule: FirewallRule, host: ForgeHost) -> tuple[Match, str]:
    https = any(p.lower() == "https" and port == HTTPS_PORT for p, port in rule.app_protocols)
    if not https:
        return "no", ""
    if any(host_matches(pattern, host.name) for pattern in rule.target_fqdns):
        return "yes", ""
    if host.wildcard and any(_under(pattern, host.name) for pattern in rule.target_fqdns):
        return "maybe", f"covers only some hosts under {host.name}"
    if rule.web_categories:
        return "maybe", f"names web categories ({', '.join(rule.web_categories)})"
    return "no", ""


def _network_target(
    rule: FirewallRule, host: ForgeHost, groups: dict[str, tuple[str, ...]], dns_proxy: bool
) -> tuple[Match, str]:
    if not any(p.strip().lower() in ("tcp", "any") for p in rule.ip_protocols):
        return "no", ""
    if not ports(rule.destination_ports).overlaps(HTTPS):
        return "no", ""
    found = [_destination_address(a) for a in rule.destination_addresses]
    found += [_destination_group(g, host, groups) for g in rule.destination_ip_groups]
    found += [_destination_fqdn(f, host) for f in (rule.destination_fqdns if dns_proxy else ())]
    for wanted in ("yes", "maybe"):
        match = next((m for m in found if m[0] == wanted), None)
        if match is not None:
            return match
    return "no", ""


def _destination_group(group: str, host: ForgeHost, groups: dict[str, tuple[str, ...]]) -> tuple[Match, str]:
    addresses = groups.get(group.lower())
    name = name_of(group)
    if addresses is None:
        return "maybe", f"names IP group {name}, which could not be read"
    if any(_destination_address(a)[0] != "no" for a in addresses):
        return "maybe", f"names IP group {name}, whose public addresses may hold {host.name}'s"
    return "no", ""


def _destination_fqdn(fqdn: str, host: ForgeHost) -> tuple[Match, str]:
    """A network rule's FQDN (resolved by the firewall's DNS proxy) against the host."""
    pattern = fqdn.strip().lower().rstrip(".")
    if pattern.startswith("*"):
        covers = host_matches(pattern, host.name) or (host.wildcard and _under(pattern, host.name))
        return ("maybe", f"names {fqdn} (a wildcard in a network rule)") if covers else ("no", "")
    if not host.wildcard:
        return ("yes", "") if pattern == host.name else ("no", "")
    if _under(pattern, host.name):
        return "maybe", f"covers only some hosts under {host.name}"
    return "no", ""


def _destination_address(text: str) -> tuple[Match, str]:
    value = text.strip()
    if value.lower() in _EVERYWHERE:
        return "yes", ""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        if "-" in value:  # a range: public if either end is
            ends = [_public(v) for v in value.split("-", 1)]
            return ("maybe", f"names the public range {value}") if any(ends) else ("no", "")
        return "maybe", f"names service tag {value}"
    if network.prefixlen == 0:
        return "yes", ""
    if network.is_global:
        return "maybe", f"names the public prefix {value}"
    return "no", ""


def _public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip()).is_global
    except ValueError:
        return False


def _under(pattern: str, wildcard: str) -> bool:
    """A pattern naming some hosts under `*.domain`: a concrete name or a narrower wildcard."""
    domain = wildcard[2:].lower()
    name = pattern.strip().lower().rstrip(".").removeprefix("*.")
    return name.endswith("." + domain)


def _spans(addresses: Sequence[str]) -> Ranges:
    """Prefixes, single addresses and `first-last` ranges as one set of addresses."""
    found = Ranges()
    for text in addresses:
        value = text.strip()
        if "-" in value and "/" not in value:
            first, _, last = value.partition("-")
            try:
                low, high = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
            except ValueError:
                continue
            found = found | Ranges.of([(int(low), int(high))]) if low.version == 4 else found
            continue
        found = found | span_of(value)
    return found
