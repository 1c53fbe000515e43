"""Private IP allocation from a subnet, as Azure does it: the first four addresses and the last one
are reserved, and dynamic addresses are handed out lowest first."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from simulator.arm.errors import ArmError

RESERVED_AT_START = 4
RESERVED_AT_END = 1


def capacity(prefix: str) -> int:
    network = ipaddress.ip_network(prefix, strict=False)
    return max(0, network.num_addresses - RESERVED_AT_START - RESERVED_AT_END)


def allocate(subnet_name: str, prefix: str, taken: Iterable[str], count: int = 1) -> list[str]:
    network = ipaddress.ip_network(prefix, strict=False)
    used = {ipaddress.ip_address(ip) for ip in taken}
    first = int(network.network_address) + RESERVED_AT_START
    last = int(network.broadcast_address) - RESERVED_AT_END
    chosen: list[str] = []
    for value in range(first, last + 1):
        address = ipaddress.ip_address(value)
        if address not in used:
            chosen.append(str(address))
            if len(chosen) == count:
                return chosen
    raise ArmError(
        400,
        "SubnetIsFull",
        f"Subnet {subnet_name} with address prefix {prefix} does not have enough capacity for "
        f"{count} IP addresses.",
    )
