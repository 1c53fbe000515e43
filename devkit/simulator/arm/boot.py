"""From provisioningState Succeeded to a powered-off VM: boot, cloud-init, then the guest: a runner
(forge reachable, API server and private endpoints checked, then the forge's runner), or a probe."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any
from urllib.parse import urlsplit

from simulator.arm.dns_view import resolve, vnet_of
from simulator.arm.guest import ApiServer, GuestContext, GuestError, RunnerFiles, guest_for, registered_forges
from simulator.arm.guest.cloudinit import ProbeFiles, endpoints_of, read_user_data
from simulator.arm.guest.probe import reach, run_probe
from simulator.arm.paths import connect
from simulator.arm.state import ArmState
from simulator.arm.vm_model import VmRecord

PREFIX = "runner-fleet: "
# The simulators' forges listen on loopback; a runner's way out is judged for the host they stand for.
FORGE_PUBLIC_HOSTS = {"github": "github.com", "gitlab": "gitlab.com"}


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
        files = read_user_data(record.custom_data)
        context = _context(state, record)
        if isinstance(files, ProbeFiles):
            record.log(
                f"cloud-init: wrote probe files for probe {files.probe!r} ({len(files.targets)} targets)"
            )
            record.guest_state = "probe"
            await run_probe(context, files)
            exit_line = "probe done; powering off"
        else:
            record.log(
                f"cloud-init: wrote runner files for forge {files.forge!r}, runner {files.runner_name!r}"
            )
            await _start_runner(record, context, files)
            exit_line = "runner exited; powering off"
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
    record.log(exit_line)
    record.power_state = "stopped"
    record.powered_off_at = time.time()


async def _start_runner(record: VmRecord, context: GuestContext, files: RunnerFiles) -> None:
    """start-runner.sh: the forge must be reachable, then the API server and every private
    endpoint in runner.json; a runner that could not work never registers."""
    endpoints = endpoints_of(files)
    if not check_forge(context, files):
        raise GuestError(f"{PREFIX}not registering: this runner cannot reach its forge")
    if files.api_server is not None:
        passed = await check_api_server(context, files.api_server)
        record.api_server_check = "passed" if passed else "failed"
        if not passed:
            raise GuestError(f"{PREFIX}not registering: this runner could not deploy to the cluster")
    answered = [check_endpoint(context, e) for e in endpoints]  # each one logs its outcome
    if not all(answered):
        raise GuestError(
            f"{PREFIX}not registering: this runner could not reach the private endpoints its jobs use"
        )
    guest = guest_for(files.forge)
    if guest is None:
        raise GuestError(
            f"runner: no runner for forge {files.forge!r} (known: {', '.join(registered_forges())})"
        )
    record.guest_state = "runner"
    record.runner.update(forge=files.forge, runner_name=files.runner_name, pool=files.pool)
    await guest.run(context, files)


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
        detach=state.spawn,
    )


def forge_host(files: RunnerFiles) -> str | None:
    """The Internet host of runner.json's forge_url (a loopback simulator stands for the forge's own)."""
    host = (urlsplit(files.forge_url).hostname or "").lower()
    if not host:
        return None
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return FORGE_PUBLIC_HOSTS.get(files.forge.lower(), host) if loopback else host


def check_forge(ctx: GuestContext, files: RunnerFiles) -> bool:
    """The runner's first contact: its forge's host on 443 through the VM's way out (NSG, routes,
    NAT gateway, default outbound access, firewall rules)."""
    host = forge_host(files)
    if host is None:
        return True  # nothing named: the runner's own connect says what happens
    subnet = ctx.subnet_ids[0] if ctx.subnet_ids else ""
    source = ctx.private_ips[0] if ctx.private_ips else None
    found = reach(ctx.store, subnet, host, 443, source=source)
    if found.verdict is None:
        ctx.console(f"{PREFIX}cannot reach {host}:443: it does not resolve ({found.resolution.source})")
        return False
    if not found.verdict.ok:
        ctx.console(f"{PREFIX}cannot reach {host}:443: {found.verdict.reason}")
        return False
    return True


async def check_api_server(ctx: GuestContext, api_server: ApiServer) -> bool:
    """The in-VM reachability check of the cluster API server named in runner.json.

    It plays `api_server_reachable` from runner_images/common/runner-lib.sh against the simulated
    network: resolve the FQDN as the VM's VNet would (linked private DNS zones, custom DNS servers),
    require a private address, then require that the address answers from the VM's subnet (peering,
    NSG, routes). Each outcome is logged with the script's own console line; on any failure the
    runner is not registered.
    """
    return _check_private(ctx, "API server", api_server, "the private DNS zone")


def check_endpoint(ctx: GuestContext, endpoint: ApiServer) -> bool:
    """A private endpoint from runner.json's `endpoints`, checked like the API server."""
    return _check_private(ctx, "endpoint", endpoint, "its private DNS zone")


def _check_private(ctx: GuestContext, what: str, target: ApiServer, zone: str) -> bool:
    fqdn, port = target.fqdn, target.port
    subnet = ctx.subnet_ids[0] if ctx.subnet_ids else ""
    vnet = vnet_of(subnet)
    resolution = resolve(ctx.store, vnet, fqdn) if vnet is not None else None
    if resolution is None or resolution.address is None:
        why = resolution.source if resolution is not None else "the VM has no subnet"
        ctx.console(f"{PREFIX}{what} {fqdn} does not resolve: is {zone} linked to the runner VNet?")
        ctx.console(f"{PREFIX}  ({why})")
        return False
    address = resolution.address
    if not ipaddress.ip_address(address).is_private:
        ctx.console(f"{PREFIX}{what} {fqdn} resolves to public address {address}, not its private endpoint")
        return False
    source = ctx.private_ips[0] if ctx.private_ips else None
    verdict = connect(ctx.store, subnet, address, port, name=fqdn, source=source)
    if not verdict.ok:
        ctx.console(
            f"{PREFIX}{what} {fqdn} ({address}:{port}) does not answer: check peering, NSG and routes"
        )
        ctx.console(f"{PREFIX}  ({verdict.reason})")
        return False
    ctx.console(f"{PREFIX}{what} {fqdn} reachable at {address}:{port}")
    return True
