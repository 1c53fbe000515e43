"""An Azure Firewall's verdict on one outbound TCP flow, from its classic rule collections or its
firewall policy (with the base policy's rules first).

Rule processing (learn.microsoft.com/azure/firewall/rule-processing, policy-rule-sets): default
deny; rules are terminating; all network rules are evaluated before any application rule; within a
kind, rule collection group priority, then rule collection priority (100 first), parent policy
before child; an HTTPS application rule matches the TLS server name (SNI) against `targetFqdns`
(`*` any, `*.x` any name under x); a network rule's `destinationFqdns` works only with DNS proxy on.
DNAT rules are for inbound traffic and never match here; FQDN tags, web categories, service tags,
threat intelligence and the infrastructure rule collection are not modelled (they never match).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

from simulator.arm.store import (
    FIREWALL_TYPE,
    IP_GROUP_TYPE,
    RULE_COLLECTION_GROUP_TYPE,
    Resource,
    ResourceStore,
)

Kind = Literal["network", "application"]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Flow:
    source: str
    destination: str
    port: int
    server_name: str | None  # the TLS SNI; None for a bare address


@dataclass(frozen=True)
class FirewallVerdict:
    allowed: bool
    reason: str
    rule: str | None = None  # "policy p, rule collection group g, rule collection c, network rule r"


@dataclass(frozen=True)
class _Collection:
    where: str  # "policy p, rule collection group g, rule collection c" or "rule collection c"
    order: tuple[int, ...]
    kind: Kind
    action: str
    rules: tuple[dict[str, Any], ...]


def firewall_at(store: ResourceStore, address: str) -> Resource | None:
    """The Azure Firewall whose private (or Virtual WAN hub) address is `address`."""
    for firewall in store.list(FIREWALL_TYPE):
        props = firewall.properties
        private = [
            (c.get("properties") or {}).get("privateIPAddress") for c in props.get("ipConfigurations") or []
        ]
        private.append((props.get("hubIPAddresses") or {}).get("privateIPAddress"))
        if address in private:
            return firewall
    return None


def dns_proxy_on(store: ResourceStore, firewall: Resource) -> bool:
    policy_ref = (firewall.properties.get("firewallPolicy") or {}).get("id")
    if policy_ref:
        policy = store.get(policy_ref)
        return bool(policy and (policy.properties.get("dnsSettings") or {}).get("enableProxy"))
    extra = firewall.properties.get("additionalProperties") or {}
    return str(extra.get("Network.DNS.EnableProxy", "")).lower() == "true"


def evaluate(store: ResourceStore, firewall: Resource, flow: Flow) -> FirewallVerdict:
    name = firewall.id.name
    collections = sorted(_collections(store, firewall), key=lambda c: (c.kind != "network", c.order))
    proxy = dns_proxy_on(store, firewall)
    needs_proxy: list[str] = []
    for collection in collections:
        for rule in collection.rules:
            if collection.kind == "network":
                matched = _network_rule_matches(store, rule, flow, dns_proxy=proxy)
                if not matched and not proxy and _network_rule_matches(store, rule, flow, dns_proxy=True):
                    needs_proxy.append(str(rule.get("name")))
            else:
                matched = _application_rule_matches(store, rule, flow)
            if matched:
                what = f"{collection.where}, {collection.kind} rule {rule.get('name')}"
                if collection.action.lower() == "allow":
                    return FirewallVerdict(True, f"Azure Firewall {name}: allowed by {what}", what)
                return FirewallVerdict(False, f"Azure Firewall {name}: denied by {what}", what)
    target = flow.server_name or flow.destination
    hint = (
        f"; network rule {', '.join(needs_proxy)} names it by FQDN, which needs DNS proxy on"
        if needs_proxy
        else ""
    )
    return FirewallVerdict(False, f"Azure Firewall {name}: no rule allows TCP {flow.port} to {target}{hint}")


def _collections(store: ResourceStore, firewall: Resource) -> list[_Collection]:
    props = firewall.properties
    policy_ref = (props.get("firewallPolicy") or {}).get("id")
    if not policy_ref:
        found = []
        for key, kind in (
            ("networkRuleCollections", "network"),
            ("applicationRuleCollections", "application"),
        ):
            for collection in props.get(key) or []:
                cprops = collection.get("properties") or {}
                found.append(
                    _Collection(
                        f"rule collection {collection.get('name')}",
                        (int(cprops.get("priority", 65000)),),
                        kind,  # type: ignore[arg-type]
                        str((cprops.get("action") or {}).get("type", "Deny")),
                        tuple(cprops.get("rules") or []),
                    )
                )
        return found
    return _policy_collections(store, policy_ref)


def _policy_chain(store: ResourceStore, policy_ref: str) -> list[Resource]:
    """The policy and its ancestors, root first (a base policy's rules come before its child's)."""
    chain: list[Resource] = []
    ref: str | None = policy_ref
    while ref:
        policy = store.get(ref)
        if policy is None or any(p.id.same_as(policy.id) for p in chain):
            break
        chain.insert(0, policy)
        ref = (policy.properties.get("basePolicy") or {}).get("id")
    return chain


def _policy_collections(store: ResourceStore, policy_ref: str) -> list[_Collection]:
    found = []
    for depth, policy in enumerate(_policy_chain(store, policy_ref)):
        for group in store.list(RULE_COLLECTION_GROUP_TYPE, parent=policy.id):
            gprops = group.properties
            for collection in gprops.get("ruleCollections") or []:
                if collection.get("ruleCollectionType") != "FirewallPolicyFilterRuleCollection":
                    continue  # NAT collections translate inbound traffic
                rules = collection.get("rules") or []
                for kind, rule_type in (("network", "NetworkRule"), ("application", "ApplicationRule")):
                    picked = tuple(r for r in rules if r.get("ruleType") == rule_type)
                    if not picked:
                        continue
                    found.append(
                        _Collection(
                            f"policy {policy.id.name}, rule collection group {group.id.name}, "
                            f"rule collection {collection.get('name')}",
                            (
                                depth,
                                int(gprops.get("priority", 65000)),
                                int(collection.get("priority", 65000)),
                            ),
                            kind,  # type: ignore[arg-type]
                            str((collection.get("action") or {}).get("type", "Deny")),
                            picked,
                        )
                    )
    return found


def _ip_group_addresses(store: ResourceStore, refs: list[str]) -> list[str]:
    addresses: list[str] = []
    for ref in refs:
        group = store.get(ref)
        if group is not None and group.type.lower() == IP_GROUP_TYPE.lower():
            addresses += [str(a) for a in group.properties.get("ipAddresses") or []]
    return addresses


def address_matches(entry: str, ip: IpAddress) -> bool:
    """`*`, an address, a CIDR prefix or a range `a-b`; anything else (a service tag) never matches."""
    text = entry.strip()
    if text == "*":
        return True
    try:
        if "-" in text:
            low, high = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
            return low <= ip <= high  # type: ignore[operator]
        return ip in ipaddress.ip_network(text, strict=False)
    except (ValueError, TypeError):
        return False


def _source_matches(store: ResourceStore, rule: dict[str, Any], source: str) -> bool:
    ip = ipaddress.ip_address(source)
    entries = [
        *(rule.get("sourceAddresses") or []),
        *_ip_group_addresses(store, rule.get("sourceIpGroups") or []),
    ]
    return any(address_matches(str(e), ip) for e in entries)


def _port_matches(entries: list[Any], port: int) -> bool:
    for entry in entries:
        text = str(entry).strip()
        if text == "*":
            return True
        low, _, high = text.partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def fqdn_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.strip().lower().rstrip("."), name.lower().rstrip(".")
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    return pattern == name


def _network_rule_matches(store: ResourceStore, rule: dict[str, Any], flow: Flow, *, dns_proxy: bool) -> bool:
    protocols = [str(p).upper() for p in (rule.get("ipProtocols") or rule.get("protocols") or [])]
    if not {"TCP", "ANY"} & set(protocols):
        return False
    if not _source_matches(store, rule, flow.source) or not _port_matches(
        rule.get("destinationPorts") or [], flow.port
    ):
        return False
    ip = ipaddress.ip_address(flow.destination)
    destinations = [
        *(rule.get("destinationAddresses") or []),
        *_ip_group_addresses(store, rule.get("destinationIpGroups") or []),
    ]
    if any(address_matches(str(d), ip) for d in destinations):
        return True
    return bool(
        dns_proxy
        and flow.server_name
        and any(fqdn_matches(str(f), flow.server_name) for f in rule.get("destinationFqdns") or [])
    )


def _application_rule_matches(store: ResourceStore, rule: dict[str, Any], flow: Flow) -> bool:
    if flow.server_name is None:
        return False  # no SNI: application rules cannot match a TLS flow
    protocols = rule.get("protocols") or []
    if not any(
        str(p.get("protocolType", "")).lower() == "https" and int(p.get("port", 443)) == flow.port
        for p in protocols
    ):
        return False
    if not _source_matches(store, rule, flow.source):
        return False
    return any(fqdn_matches(str(f), flow.server_name) for f in rule.get("targetFqdns") or [])
