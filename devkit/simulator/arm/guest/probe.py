"""The probe guest: a throwaway VM whose user data writes /etc/runner-fleet/probe.json instead of a
runner's files. It resolves and connects to every target from the VM's subnet, prints one console
line per target, and powers off. No runner, no secret.

Probe contract (runner_images/common/probe.sh plays it on a real VM), serial console lines:
  runner-fleet-probe: start {"probe": "<id>", "targets": N}
  runner-fleet-probe: result {"probe", "target", "name", "fqdn", "port", "expect", "address", "scope",
      "resolve_error", "connect_ms", "connect_error", "tls", "tls_detail"}
  runner-fleet-probe: done {"probe": "<id>"}
Connections follow the simulated network (`simulator.arm.dns_view`, `simulator.arm.paths`); a
connection that gets through completes TLS. connect_ms is made up but stable per name: 1-3 ms to a
private address, 10-30 ms to a public one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from simulator.arm.dns_view import Resolution, resolve, vnet_of
from simulator.arm.guest.base import GuestContext
from simulator.arm.guest.cloudinit import ProbeFiles, ProbeTarget
from simulator.arm.paths import PathVerdict, connect
from simulator.arm.seeding_network import public_address_for
from simulator.arm.store import ResourceStore

PREFIX = "runner-fleet-probe: "


@dataclass(frozen=True)
class Reach:
    """One name looked up and connected to from a subnet."""

    resolution: Resolution
    verdict: PathVerdict | None  # None: nothing to connect to


def reach(store: ResourceStore, subnet_id: str, host: str, port: int, *, source: str | None = None) -> Reach:
    """Resolve `host` as the subnet's VNet does and connect to it on `port` (TLS server name: `host`).

    An address literal needs no DNS; a loopback one (the simulators' forges listen on 127.0.0.1)
    stands for an Internet host."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        address = public_address_for(host) if literal.is_loopback else host
        resolution = Resolution(
            address,
            "an address literal" + (" (a loopback forge: an Internet host)" if literal.is_loopback else ""),
        )
        server_name = None
    else:
        vnet = vnet_of(subnet_id)
        if vnet is None:
            return Reach(Resolution(None, "the VM has no subnet"), None)
        resolution = resolve(store, vnet, host)
        server_name = host
    if resolution.address is None:
        return Reach(resolution, None)
    return Reach(
        resolution, connect(store, subnet_id, resolution.address, port, name=server_name, source=source)
    )


def connect_ms(name: str, scope: str) -> float:
    spread = int.from_bytes(hashlib.sha256(name.lower().encode()).digest()[:4], "big")
    if scope == "private":
        return round(1.0 + (spread % 200) / 100, 2)
    return round(10.0 + (spread % 2000) / 100, 2)


def probe_result(
    store: ResourceStore, subnet_id: str, source: str | None, probe: str, target: ProbeTarget
) -> dict[str, Any]:
    found = reach(store, subnet_id, target.fqdn, target.port, source=source)
    address = found.resolution.address
    scope = found.resolution.scope
    verdict = found.verdict
    connected = verdict is not None and verdict.ok
    return {
        "probe": probe,
        "target": target.target,
        "name": target.name,
        "fqdn": target.fqdn,
        "port": target.port,
        "expect": target.expect,
        "address": address,
        "scope": scope,
        "resolve_error": None if address is not None else f"does not resolve ({found.resolution.source})",
        "connect_ms": connect_ms(target.fqdn, scope or "public") if connected else None,
        "connect_error": None if verdict is None or verdict.ok else f"timed out: {verdict.reason}",
        "tls": "ok" if connected else None,
        "tls_detail": None,
    }


async def run_probe(ctx: GuestContext, files: ProbeFiles) -> None:
    subnet = ctx.subnet_ids[0] if ctx.subnet_ids else ""
    source = ctx.private_ips[0] if ctx.private_ips else None
    ctx.console(PREFIX + "start " + json.dumps({"probe": files.probe, "targets": len(files.targets)}))
    for target in files.targets:
        result = probe_result(ctx.store, subnet, source, files.probe, target)
        ctx.console(PREFIX + "result " + json.dumps(result))
    ctx.console(PREFIX + "done " + json.dumps({"probe": files.probe}))
