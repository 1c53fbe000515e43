"""The in-VM reachability check of the cluster API server named in runner.json.

It plays `api_server_reachable` from runner_images/common/runner-lib.sh against the simulated
network: resolve the FQDN as the VM's VNet would (linked private DNS zones, custom DNS servers),
require a private address, then require that the address answers from the VM's subnet (peering,
NSG). Each outcome is logged with the script's own console line; on any failure the runner is
not registered.
"""

from __future__ import annotations

import ipaddress

from simulator.arm.guest.base import ApiServer, GuestContext
from simulator.arm.vnet_view import resolve, unreachable_reason, vnet_of

PREFIX = "runner-fleet: "


async def check_api_server(ctx: GuestContext, api_server: ApiServer) -> bool:
    fqdn, port = api_server.fqdn, api_server.port
    subnet = ctx.subnet_ids[0] if ctx.subnet_ids else ""
    vnet = vnet_of(subnet)
    resolution = resolve(ctx.store, vnet, fqdn) if vnet is not None else None
    if resolution is None or resolution.address is None:
        why = resolution.source if resolution is not None else "the VM has no subnet"
        ctx.console(
            f"{PREFIX}API server {fqdn} does not resolve: is the private DNS zone linked to the runner VNet?"
        )
        ctx.console(f"{PREFIX}  ({why})")
        return False
    address = resolution.address
    if not ipaddress.ip_address(address).is_private:
        ctx.console(
            f"{PREFIX}API server {fqdn} resolves to public address {address}, not its private endpoint"
        )
        return False
    reason = unreachable_reason(ctx.store, subnet, address, port)
    if reason is not None:
        ctx.console(
            f"{PREFIX}API server {fqdn} ({address}:{port}) does not answer: check peering, NSG and routes"
        )
        ctx.console(f"{PREFIX}  ({reason})")
        return False
    ctx.console(f"{PREFIX}API server {fqdn} reachable at {address}:{port}")
    return True
