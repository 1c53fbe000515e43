"""From provisioningState Succeeded to a powered-off VM: boot, cloud-init, the guest's runner."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from simulator.arm.guest import GuestContext, GuestError, guest_for, registered_forges
from simulator.arm.guest.apiserver import check_api_server
from simulator.arm.guest.cloudinit import parse_user_data
from simulator.arm.state import ArmState
from simulator.arm.vm_model import VmRecord


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
        console=record.log,
        report=report,
    )
