"""Reading one resource as a `Lookup`, and the address test discovery keeps needing."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from runner_fleet.preflight.reader import ReadError
from runner_fleet.preflight.topology import Lookup

T = TypeVar("T")


async def lookup(resource: str, read: Awaitable[T | None]) -> Lookup[T]:
    try:
        return Lookup(resource, await read)
    except ReadError as exc:
        return Lookup(resource, error=str(exc))


def holds(prefixes: Sequence[str], address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(p, strict=False) for p in prefixes)
    except ValueError:
        return False
