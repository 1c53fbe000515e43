"""The in-VM reachability check of the cluster API server named in runner.json.

Single replaceable hook: it will resolve the FQDN against the simulated private DNS zones linked
to the VM's VNet. Until those are modelled every name counts as resolvable.
"""

from __future__ import annotations

from simulator.arm.guest.base import ApiServer, GuestContext


async def check_api_server(ctx: GuestContext, api_server: ApiServer) -> bool:
    ctx.console(f"api server check: {api_server.fqdn}:{api_server.port} resolves from {ctx.vm_name}")
    ctx.console("api server check passed")
    return True
