"""Probing one pool: delete its expired probe VMs, make one, wait for it to run and for its console to say
`done` (or the timeout), judge each target, and delete the VM, always.

Always means: when the probe passes or fails, when it times out, when anything raises, and when the
task is cancelled (Ctrl-C, or SIGTERM turned into a cancellation by the command). The delete runs
in a `finally`, shielded from further cancellation and waited for, so an interrupted probe returns
only once Azure has accepted the delete. Only a process killed outright (SIGKILL, a power cut) leaves
its VM behind, and its `expires-at` tag says when the reconciler and the pool's next probe delete it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from runner_fleet.cloudinit import to_custom_data
from runner_fleet.logs import get_logger
from runner_fleet.ports.compute import (
    ProbeCompute,
    VmCreateRejected,
    VmCreateThrottled,
    VmInfo,
    VmSpec,
)
from runner_fleet.probe.console import ConsoleReading, read_console
from runner_fleet.probe.targets import ProbeTarget
from runner_fleet.probe.userdata import render_probe_user_data
from runner_fleet.probe.verdict import TargetVerdict, judge
from runner_fleet.probe.vm import DEFAULT_TIMEOUT_S, expired, is_probe, probe_tags, probe_vm_name
from runner_fleet.settings.pool import Pool

log = get_logger("probe")

Ending = Literal["done", "timeout", "not-created", "failed", "error"]
Deletion = Literal["accepted", "absent", "failed"]
# A PUT cut off by a cancellation may still make its VM a moment after the delete found none:
# look again this many times, this far apart.
LATE_VM_CHECKS = 3
LATE_VM_WAIT_S = 2.0
MAX_MESSAGE = 300


@dataclass(frozen=True)
class ProbeOutcome:
    pool: str
    vm: str
    size: str
    ending: Ending  # done: the console said `done`; the others say why the probe did not finish
    message: str
    verdicts: tuple[TargetVerdict, ...]
    deleted: Deletion  # accepted: Azure deletes it; absent: none was made; failed: see `message`
    reaped: tuple[str, ...] = ()  # expired probe VMs of the pool deleted first
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.ending == "done" and all(v.status == "pass" for v in self.verdicts)

    def document(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "ok": self.ok,
            "ending": self.ending,
            "message": self.message,
            "vm": self.vm,
            "size": self.size,
            "deleted": self.deleted,
            "reaped": list(self.reaped),
            "seconds": round(self.seconds, 1),
            "targets": [v.document() for v in self.verdicts],
        }


@dataclass
class ProbeLedger:
    """Every probe VM this process made and what became of it: what an interrupted command reports."""

    vms: dict[str, str] = field(default_factory=dict)

    def note(self, name: str, state: str) -> None:
        self.vms[name] = state


Progress = Callable[[str, str], None]  # (pool, what is happening)


@dataclass
class PoolProbe:
    compute: ProbeCompute
    ssh_public_key: str  # Azure requires one; the pool's unusable key (no private half) is passed
    timeout_s: float = DEFAULT_TIMEOUT_S
    poll_s: float = 5.0
    ledger: ProbeLedger = field(default_factory=ProbeLedger)
    progress: Progress | None = None
    now: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    token: Callable[[], str] = field(default=lambda: secrets.token_hex(4))

    async def __call__(self, pool: Pool, targets: Sequence[ProbeTarget]) -> ProbeOutcome:
        started = self.now()
        reaped = await reap_expired(self.compute, pool, started)
        name = probe_vm_name(pool.name, self.token())
        # The first of the pool's sizes: the one its runners are made with whenever Azure has it, so
        # the probe boots what a runner boots (image generation, disk placement, NIC) and meets the
        # same quota. A probe is not worth Spot's eviction risk: it runs on demand.
        size = pool.azure.vm_sizes[0]
        run = _Run(self, pool, name, size, tuple(targets), deadline=started + self.timeout_s)
        self.ledger.note(name, "creating")
        try:
            ending, message, reading = await run.probe()
        finally:
            deleted, why = await run.delete_always()
        if deleted == "failed":
            message = f"{message}; {why}" if message else why
        return ProbeOutcome(
            pool=pool.name,
            vm=name,
            size=size,
            ending=ending,
            message=message,
            verdicts=_verdicts(run.targets, reading, ending, message),
            deleted=deleted,
            reaped=reaped,
            seconds=self.now() - started,
        )


async def reap_expired(compute: ProbeCompute, pool: Pool, now: float) -> tuple[str, ...]:
    """Delete the pool's probe VMs whose run is over (a killed probe's); their names. Never raises: a
    left-over VM must not stop a new probe."""
    try:
        vms = await compute.list_vms([pool])
    except Exception as exc:
        log.warning("probe.reap_list_failed", pool=pool.name, error=type(exc).__name__)
        return ()
    reaped = []
    for vm in vms:
        if not (is_probe(vm) and vm.pool == pool.name and expired(vm, now)):
            continue
        try:
            await compute.delete_vm(pool, vm.name, wait=False)
        except Exception as exc:
            log.warning("probe.reap_failed", pool=pool.name, vm=vm.name, error=type(exc).__name__)
            continue
        log.info("probe.reaped", pool=pool.name, vm=vm.name)
        reaped.append(vm.name)
    return tuple(reaped)


class _Ended(Exception):
    def __init__(self, ending: Ending, message: str, reading: ConsoleReading | None = None) -> None:
        super().__init__(message)
        self.ending: Ending = ending
        self.message = message
        self.reading = reading


@dataclass
class _Run:
    probe_of: PoolProbe
    pool: Pool
    name: str
    size: str
    targets: tuple[ProbeTarget, ...]
    deadline: float
    put_sent: bool = False  # a PUT left (it may have made the VM even if it never answered)
    put_answered: bool = False

    def _say(self, what: str) -> None:
        if self.probe_of.progress is not None:
            self.probe_of.progress(self.pool.name, what)

    async def probe(self) -> tuple[Ending, str, ConsoleReading | None]:
        try:
            await self._create()
            await self._wait_running()
            reading = await self._wait_console()
        except _Ended as ended:
            return ended.ending, ended.message, ended.reading
        except Exception as exc:  # anything else ends the probe as a finding; the VM still goes
            log.exception("probe.failed", pool=self.pool.name, vm=self.name)
            return "error", f"the probe failed: {_short(exc)}", None
        return "done", "", reading

    async def _create(self) -> None:
        probe = self.probe_of
        spec = VmSpec(
            name=self.name,
            pool=self.pool,
            size=self.size,
            custom_data_b64=to_custom_data(render_probe_user_data(self.name, self.targets)),
            tags=probe_tags(self.pool.name, self.pool.forge, self.name, probe.now(), probe.timeout_s),
            ssh_public_key=probe.ssh_public_key,
            spot=False,
        )
        self._say(f"creating probe VM {self.name} ({self.size})")
        while True:
            self.put_sent = True
            try:
                await probe.compute.start_create(spec)
            except VmCreateThrottled as exc:
                if probe.now() + exc.retry_after_s >= self.deadline:
                    raise _Ended("not-created", f"VM creates are throttled: {exc}") from None
                await probe.sleep(exc.retry_after_s)
                continue
            except VmCreateRejected as exc:
                raise _Ended(
                    "not-created", f"Azure refused the probe VM ({self.size}): {_short(exc)}"
                ) from None
            except Exception as exc:
                raise _Ended("not-created", f"the probe VM could not be created: {_short(exc)}") from None
            self.put_answered = True
            return

    async def _wait_running(self) -> VmInfo:
        probe = self.probe_of
        seen = False
        while True:
            vm = await probe.compute.get_vm(self.pool, self.name)
            if vm is None and seen:
                raise _Ended("failed", f"the probe VM {self.name} was deleted by someone else")
            if vm is not None:
                seen = True
                if vm.provisioning_state == "Failed":
                    failure = vm.failure
                    why = f"{failure.code}: {failure.message}" if failure else "no reason given"
                    raise _Ended("failed", f"the probe VM failed to provision: {_short(why)}")
                if vm.provisioning_state == "Succeeded" and (vm.power_state == "running" or vm.exited):
                    self._say("VM running; reading its serial console")
                    return vm
            if probe.now() >= self.deadline:
                state = vm.state_text if vm is not None else "not found"
                raise _Ended("timeout", f"the probe VM was not running within {probe.timeout_s:g}s ({state})")
            await probe.sleep(probe.poll_s)

    async def _wait_console(self) -> ConsoleReading:
        probe = self.probe_of
        trouble = ""
        while True:
            text: str | None = None
            try:
                text = await probe.compute.serial_log(self.pool, self.name)
            except Exception as exc:  # a read that failed is tried again on the next poll
                trouble = f"; the last console read failed: {_short(exc)}"
            reading = read_console(text or "", self.name)
            if reading.done:
                return reading
            if await self._powered_off():
                # The script powers off after `done`; off without it is a guest that gave up (or
                # never ran the script): the console holds all it will ever say.
                text = await probe.compute.serial_log(self.pool, self.name)
                reading = read_console(text or "", self.name)
                if reading.done:
                    return reading
                raise _Ended("failed", "the probe VM powered off without finishing its probe", reading)
            if probe.now() >= self.deadline:
                heard = (
                    f"{len(reading.results)} of {len(self.targets)} targets reported"
                    if reading.started is not None
                    else "the probe script never started"
                )
                message = f"no `done` on the serial console within {probe.timeout_s:g}s ({heard}{trouble})"
                raise _Ended("timeout", message, reading)
            await probe.sleep(probe.poll_s)

    async def _powered_off(self) -> bool:
        try:
            vm = await self.probe_of.compute.get_vm(self.pool, self.name)
        except Exception:  # the console poll goes on; the timeout still bounds the wait
            return False
        return vm is not None and vm.exited

    async def delete_always(self) -> tuple[Deletion, str]:
        """Delete the VM whatever happened; a cancellation meanwhile waits for the delete, then goes on."""
        deleting = asyncio.ensure_future(self._delete())
        cancelled = False
        while not deleting.done():
            try:
                await asyncio.shield(deleting)
            except asyncio.CancelledError:
                if deleting.cancelled():
                    raise
                cancelled = True  # the delete goes on: an interrupted probe must leave nothing
        outcome = deleting.result()
        if cancelled:
            raise asyncio.CancelledError
        return outcome

    async def _delete(self) -> tuple[Deletion, str]:
        probe, ledger = self.probe_of, self.probe_of.ledger
        try:
            existed = await probe.compute.delete_vm(self.pool, self.name, wait=False)
            checks = LATE_VM_CHECKS if self.put_sent and not self.put_answered else 0
            while not existed and checks > 0:
                checks -= 1
                await probe.sleep(LATE_VM_WAIT_S)
                existed = await probe.compute.delete_vm(self.pool, self.name, wait=False)
        except Exception as exc:
            log.error("probe.delete_failed", pool=self.pool.name, vm=self.name, error=type(exc).__name__)
            ledger.note(self.name, f"delete failed: {type(exc).__name__}")
            return "failed", (
                f"the probe VM {self.name} could not be deleted ({_short(exc)}): the reconciler deletes it "
                "once its expires-at tag has passed, or delete it now"
            )
        if existed:
            ledger.note(self.name, "delete accepted")
            self._say(f"probe VM {self.name} deleted")
            log.info("probe.deleted", pool=self.pool.name, vm=self.name)
            return "accepted", ""
        ledger.note(self.name, "absent")
        return "absent", ""


def _verdicts(
    targets: Sequence[ProbeTarget], reading: ConsoleReading | None, ending: Ending, message: str
) -> tuple[TargetVerdict, ...]:
    if ending == "done":
        missing = "the probe VM reported nothing for this target"
    elif reading is not None:
        missing = "no result before the probe timed out"
    else:
        missing = f"not probed: {message}"
    return tuple(
        judge(target, reading.result_for(target.key) if reading is not None else None, missing=missing)
        for target in targets
    )


def _short(exc: BaseException | str) -> str:
    text = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    first = " ".join(text.strip().splitlines()[0].split()) if text.strip() else type(exc).__name__
    return first[:MAX_MESSAGE]
