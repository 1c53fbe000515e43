"""NSG rules as Azure applies them, over whole sets of flows rather than one flow at a time.

A flow is the five-tuple an NSG rule matches on: source address, source port, destination address,
destination port and protocol. A `Flows` value is a set of flows, kept as a union of boxes (one
range set per dimension), so "everything rule X lets through" can be computed exactly: rules are
taken in priority order, the first rule matching a flow decides it, and what a rule matched is
removed before the next rule is looked at ("Once traffic matches a rule, processing stops":
learn.microsoft.com/azure/virtual-network/network-security-groups-overview, which also lists the
default rules every NSG carries and the protocols: TCP, UDP, ICMP, ESP, AH, or Any).

Addresses of both families share one number line (IPv6 after the 2**32 IPv4 addresses). Service
tags are resolved with what the preflight knows: `VirtualNetwork` is the VNet's address space plus
its peers' (the real tag also holds on-premises and UDR prefixes, which the preflight does not
read), `Internet` is every address outside it, `AzureLoadBalancer` is 168.63.129.16, and other
service tags name public Azure ranges, which never hold a VNet address. A rule naming application
security groups may match any address of the VNet when it allows, and is taken to match nothing
when it denies: both err towards reporting a flow as allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from runner_fleet.preflight.topology import NsgRule

Span = tuple[int, int]  # inclusive
IPV4_SIZE = 2**32
ADDRESS_MAX = IPV4_SIZE + 2**128 - 1
PORT_MAX = 65535
PROTOCOLS = ("Tcp", "Udp", "Icmp", "Esp", "Ah")
AZURE_LOAD_BALANCER = "168.63.129.16"


@dataclass(frozen=True)
class Ranges:
    """A set of integers as sorted, disjoint, non-adjacent inclusive spans."""

    spans: tuple[Span, ...] = ()

    @staticmethod
    def of(spans: Iterable[Span]) -> Ranges:
        merged: list[Span] = []
        for low, high in sorted(s for s in spans if s[0] <= s[1]):
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return Ranges(tuple(merged))

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __and__(self, other: Ranges) -> Ranges:
        found: list[Span] = []
        for low, high in self.spans:
            for other_low, other_high in other.spans:
                if other_low <= high and low <= other_high:
                    found.append((max(low, other_low), min(high, other_high)))
        return Ranges.of(found)

    def overlaps(self, other: Ranges) -> bool:
        mine, theirs, i, j = self.spans, other.spans, 0, 0
        while i < len(mine) and j < len(theirs):
            if mine[i][1] < theirs[j][0]:
                i += 1
            elif theirs[j][1] < mine[i][0]:
                j += 1
            else:
                return True
        return False

    def __or__(self, other: Ranges) -> Ranges:
        return Ranges.of((*self.spans, *other.spans))

    def __sub__(self, other: Ranges) -> Ranges:
        left = list(self.spans)
        for cut_low, cut_high in other.spans:
            kept: list[Span] = []
            for low, high in left:
                if cut_high < low or high < cut_low:
                    kept.append((low, high))
                    continue
                if low < cut_low:
                    kept.append((low, cut_low - 1))
                if cut_high < high:
                    kept.append((cut_high + 1, high))
            left = kept
        return Ranges.of(left)

    def size(self) -> int:
        return sum(high - low + 1 for low, high in self.spans)


ALL_ADDRESSES = Ranges(((0, ADDRESS_MAX),))
ALL_PORTS = Ranges(((0, PORT_MAX),))
ALL_PROTOCOLS = Ranges(((0, len(PROTOCOLS) - 1),))
NOTHING = Ranges()


@dataclass(frozen=True)
class Box:
    """Every flow whose five values each lie in the matching set."""

    sources: Ranges
    source_ports: Ranges
    destinations: Ranges
    destination_ports: Ranges
    protocols: Ranges

    def sides(self) -> tuple[Ranges, ...]:
        return (self.sources, self.source_ports, self.destinations, self.destination_ports, self.protocols)

    def __bool__(self) -> bool:
        return all(self.sides())

    def __and__(self, other: Box) -> Box:
        return Box(*(a & b for a, b in zip(self.sides(), other.sides(), strict=True)))

    def overlaps(self, other: Box) -> bool:
        return all(a.overlaps(b) for a, b in zip(self.sides(), other.sides(), strict=True))

    def __sub__(self, other: Box) -> list[Box]:
        """Disjoint boxes covering this one's flows outside `other`."""
        if not self.overlaps(other):
            return [self]
        pieces: list[Box] = []
        mine, theirs = self.sides(), other.sides()
        for index in range(len(mine)):
            rest = mine[index] - theirs[index]
            if not rest:
                continue
            sides = [mine[i] & theirs[i] for i in range(index)] + [rest, *mine[index + 1 :]]
            pieces.append(Box(*sides))
        return pieces


@dataclass(frozen=True)
class Flows:
    boxes: tuple[Box, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.boxes)

    def __and__(self, other: Box | Flows) -> Flows:
        theirs = other.boxes if isinstance(other, Flows) else (other,)
        return Flows(tuple(mine & box for mine in self.boxes for box in theirs if mine.overlaps(box)))

    def __sub__(self, other: Box | Flows) -> Flows:
        left = list(self.boxes)
        for cut in other.boxes if isinstance(other, Flows) else (other,):
            left = [piece for box in left for piece in box - cut]
        return Flows(tuple(left))

    def union(self, side: int) -> Ranges:
        """Every value one dimension takes anywhere in the set (0 sources ... 4 protocols)."""
        found = NOTHING
        for box in self.boxes:
            found = found | box.sides()[side]
        return found


@dataclass(frozen=True)
class Network:
    """What the service tags stand for around one subnet."""

    vnet: Ranges  # the VNet's address space and its peers'


@dataclass(frozen=True)
class Decision:
    rule: NsgRule
    flows: Flows  # the flows this rule decided (allowed or denied), no other rule having matched first


def decide(rules: Sequence[NsgRule], direction: str, start: Flows, network: Network) -> list[Decision]:
    """Which rule decides each flow of `start`, in Azure's order; flows no rule matches are left out."""
    left = start
    decisions: list[Decision] = []
    for rule in sorted((r for r in rules if r.direction == direction), key=lambda r: r.priority):
        box = rule_box(rule, network)
        matched = left & box
        if matched:
            decisions.append(Decision(rule, matched))
            left = left - box
        if not left:
            break
    return decisions


def rule_box(rule: NsgRule, network: Network) -> Box:
    allowing = rule.access.lower() == "allow"
    return Box(
        addresses(rule.sources, network, groups=bool(rule.source_asgs), allowing=allowing),
        ports(rule.source_ports),
        addresses(rule.destinations, network, groups=bool(rule.destination_asgs), allowing=allowing),
        ports(rule.destination_ports),
        protocols(rule.protocol),
    )


def addresses(
    prefixes: Sequence[str], network: Network, *, groups: bool = False, allowing: bool = True
) -> Ranges:
    found = network.vnet if groups and allowing else NOTHING
    for prefix in prefixes:
        text = prefix.strip().lower()
        if text in ("*", "any"):
            return ALL_ADDRESSES
        if text == "virtualnetwork":
            found = found | network.vnet
        elif text == "internet":
            found = found | (ALL_ADDRESSES - network.vnet)
        elif text == "azureloadbalancer":
            found = found | span_of(AZURE_LOAD_BALANCER)
        else:
            found = found | span_of(prefix)
    return found


def span_of(prefix: str) -> Ranges:
    """The addresses of a CIDR prefix or single address; nothing for a service tag or nonsense."""
    try:
        net = ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return NOTHING
    offset = 0 if net.version == 4 else IPV4_SIZE
    return Ranges(((offset + int(net.network_address), offset + int(net.broadcast_address)),))


def spans_of(prefixes: Iterable[str]) -> Ranges:
    found = NOTHING
    for prefix in prefixes:
        found = found | span_of(prefix)
    return found


def port(number: int) -> Ranges:
    return Ranges(((number, number),))


HTTPS = port(443)


def ports(texts: Sequence[str]) -> Ranges:
    """A rule's port list: "*", single ports and "low-high" ranges, each entry possibly
    comma-separated as the portal and the firewall take them."""
    found: list[Span] = []
    for text in texts:
        for part in (p.strip() for p in text.split(",")):
            if part == "*":
                return ALL_PORTS
            low, _, high = part.partition("-")
            try:
                found.append((int(low), int(high or low)))
            except ValueError:
                continue
    return Ranges.of(found)


def protocols(protocol: str) -> Ranges:
    text = protocol.strip().lower()
    if text in ("*", "any", ""):
        return ALL_PROTOCOLS
    for index, name in enumerate(PROTOCOLS):
        if name.lower() == text:
            return Ranges(((index, index),))
    return NOTHING


def protocol_range(*names: str) -> Ranges:
    return Ranges.of((PROTOCOLS.index(n), PROTOCOLS.index(n)) for n in names)


# --- describing a set of flows in a sentence ------------------------------------------------------


def describe_addresses(found: Ranges, context: Sequence[str] = (), limit: int = 3) -> str:
    """A few CIDR prefixes, less a few single addresses (the API server punched out of a VNet range);
    when that takes too many words, the `context` prefixes (e.g. the VNet's) the addresses fall in."""
    hull = Ranges.of(_close_small_gaps(found.spans))
    holes = hull - found
    cidrs = _cidrs(hull, limit)
    if len(cidrs) <= limit and holes.size() <= limit:
        except_ = " except " + ", ".join(_cidrs(holes, limit)) if holes else ""
        return ", ".join(cidrs) + except_
    touched = [p for p in context if found & span_of(p)]
    return (
        "addresses in " + ", ".join(touched) if touched else ", ".join(_cidrs(found, limit)[:limit]) + ", ..."
    )


def _close_small_gaps(spans: Sequence[Span], gap: int = 16) -> list[Span]:
    closed: list[Span] = []
    for low, high in spans:
        if closed and low - closed[-1][1] - 1 <= gap:
            closed[-1] = (closed[-1][0], high)
        else:
            closed.append((low, high))
    return closed


def _cidrs(found: Ranges, limit: int) -> list[str]:
    """The prefixes making up `found`, stopping once there are more than `limit`."""
    cidrs: list[str] = []
    for low, high in found.spans:
        cidrs += [str(n.network_address) if n.num_addresses == 1 else str(n) for n in _summarize(low, high)]
        if len(cidrs) > limit:
            break
    return cidrs


def describe_ports(found: Ranges, limit: int = 3) -> str:
    if found == ALL_PORTS:
        return "any port"
    missing = ALL_PORTS - found
    if len(found.spans) > limit and len(missing.spans) <= limit:
        return "ports other than " + _port_list(missing)
    shown = Ranges(found.spans[:limit])
    more = ", ..." if len(found.spans) > limit else ""
    return ("port " if shown.size() == 1 else "ports ") + _port_list(shown) + more


def describe_protocols(found: Ranges) -> str:
    if found == ALL_PROTOCOLS:
        return "any protocol"
    names = [PROTOCOLS[i].upper() for low, high in found.spans for i in range(low, high + 1)]
    return "/".join(names)


def _port_list(found: Ranges) -> str:
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in found.spans)


def _summarize(low: int, high: int) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    found: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    if low < IPV4_SIZE:
        last = ipaddress.IPv4Address(min(high, IPV4_SIZE - 1))
        found += ipaddress.summarize_address_range(ipaddress.IPv4Address(low), last)
    if high >= IPV4_SIZE:
        first = ipaddress.IPv6Address(max(low, IPV4_SIZE) - IPV4_SIZE)
        found += ipaddress.summarize_address_range(first, ipaddress.IPv6Address(high - IPV4_SIZE))
    return found
