"""From provisioningState Succeeded to a powered-off VM: boot, cloud-init, the guest's runner."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

from simulator.arm.guest import ApiServer, GuestContext, GuestError, guest_for, registered_forges
from simulator.arm.guest.cloudinit import parse_user_data
from simulator.arm.state import ArmState
from simulator.arm.vm_model import VmRecord
from simulator.arm.vnet_view import resolve, unreachable_reason, vnet_of

PREFIX = "runner-fleet: "


async def run_guest(state: ArmState, record: VmRecord) -> None:
    record.guest_state = "booting"
    record.log(f"Booting {record.computer_name} ({record.size}, {record.location})")
    await state.clock.sleep(state.config.timing.boot_s)
    if record.never_boot:
        record.guest_state = "never-booted"
        record.log("No output from the guest: the OS never came up (no cloud-init, no VM agent).")
        return
    record.booted_at = time.time()
    record.guest_state = "cloud-init"
    record.log("Ubuntu 22.04 LTS: kernel started; cloud-init running modules:config")
    try:
        files = parse_user_data(record.custom_data)
        record.log(f"cloud-init: wrote runner files for forge {files.forge!r}, runner {files.runner_name!r}")
        context = _context(state, record)
        if files.api_server is not None:
            passed = await check_api_server(context, files.api_server)
            record.api_server_check = "passed" if passed else "failed"
            if not passed:
                # As start-runner.sh does: a runner that cannot deploy never registers.
                raise GuestError("runner-fleet: not registering: this runner could not deploy to the cluster")
        guest = guest_for(files.forge)
        if guest is None:
            raise GuestError(
                f"runner: no runner for forge {files.forge!r} (known: {', '.join(registered_forges())})"
            )
        record.guest_state = "runner"
        record.runner.update(forge=files.forge, runner_name=files.runner_name, pool=files.pool)
        await guest.run(context, files)
    except GuestError as exc:
        record.guest_state = "failed"
        record.log(str(exc))
        record.log("start-runner.sh failed; the runner is not registered")
        return
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a guest bug must show on the console, not vanish in a task
        record.guest_state = "failed"
        record.log(f"runner crashed: {exc!r}")
        return
    record.guest_state = "exited"
    record.log("runner exited; powering off")
    record.power_state = "stopped"
    record.powered_off_at = time.time()


def _context(state: ArmState, record: VmRecord) -> GuestContext:
    assert state.http is not None, "the simulator's HTTP client is created when it starts"

    def report(**facts: Any) -> None:
        record.runner.update(facts)
        if facts.get("connected") and record.registered_at is None:
            record.registered_at = time.time()

    return GuestContext(
        vm_name=record.name,
        vm_id=str(record.id),
        subnet_ids=tuple(s for nic in record.nics for s in nic.subnet_ids),
        private_ips=tuple(ip for nic in record.nics for ip in nic.private_ips),
        clock=state.clock,
        http=state.http,
        store=state.store,
        poll_s=state.config.guest_poll_s,
        check_interval_s=state.config.gitlab_check_interval_s,
        console=record.log,
        report=report,
    )


async def check_api_server(ctx: GuestContext, api_server: ApiServer) -> bool:
    """The in-VM reachability check of the cluster API server named in runner.json.

    It plays `api_server_reachable` from runner_images/common/runner-lib.sh against the simulated
    network: resolve the FQDN as the VM's VNet would (linked private DNS zones, custom DNS servers),
    require a private address, then require that the address answers from the VM's subnet (peering,
    NSG). Each outcome is logged with the script's own console line; on any failure the runner is
    not registered.
    """
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
