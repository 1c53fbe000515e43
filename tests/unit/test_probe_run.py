"""A pool's probe over the in-memory compute: the VM it makes, what it reads back, and that the VM is
deleted whatever happens (pass, fail, timeout, an error, a cancellation, even one during the delete),
while a probe VM left by a killed process is deleted by the reconciler and the next probe."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.ports.compute import CreateFailure, VmCreateRejected, VmInfo, VmSpec
from runner_fleet.probe.console import PREFIX
from runner_fleet.probe.run import PoolProbe, ProbeLedger
from runner_fleet.probe.targets import ProbeTarget, probe_targets
from runner_fleet.probe.userdata import PROBE_JSON
from runner_fleet.probe.vm import DELETE_GRACE_S, probe_tags
from runner_fleet.settings import load_service_settings
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.reconcile.reconciler import Reconciler
from tests.builders import make_pool
from tests.fakes import FakeCompute, FakeRegistry

AKS_FQDN = "aks-prod-7f3a9c2e.privatelink.westeurope.azmk8s.io"
ZONE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-aks/providers/"
    "Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
)
POOL = make_pool(cluster={"api_server_fqdn": AKS_FQDN, "dns_zone_id": ZONE})
TARGETS = probe_targets(POOL, load_service_settings({}))
START = 1_800_000_000.0
# What the VM finds, per name: (address, scope, connect error, tls)
HEALTHY: dict[str, tuple[str | None, str | None, str | None, str | None]] = {
    AKS_FQDN: ("10.10.0.4", "private", None, "ok"),
    "github.com": ("140.82.121.4", "public", None, "ok"),
    "api.github.com": ("140.82.121.6", "public", None, "ok"),
    "broker.actions.githubusercontent.com": ("13.107.42.16", "public", None, "ok"),
}


@dataclass
class Clock:
    """Wall time for the probe; each sleep moves it on and lets other tasks run."""

    t: float = START
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


def probe_conf(spec: VmSpec) -> dict[str, Any]:
    document = yaml.safe_load(base64.b64decode(spec.custom_data_b64).decode())
    [conf] = [json.loads(f["content"]) for f in document["write_files"] if f["path"] == PROBE_JSON]
    assert isinstance(conf, dict)
    return conf


Network = dict[str, tuple[str | None, str | None, str | None, str | None]]


def guest(
    network: Network, *, done: bool = True, read: asyncio.Event | None = None
) -> Callable[[VmSpec], str]:
    """A console as probe.sh would print it for the VM's probe.json over `network`; `read` is set
    once the console has been read (a sign the probe is waiting for it)."""

    def console(spec: VmSpec) -> str:
        if read is not None:
            read.set()
        conf = probe_conf(spec)
        lines = [
            f"[    3.2] cloud-init[1]: {PREFIX}start {json.dumps({'probe': conf['probe'], 'targets': 1})}"
        ]
        for target in conf["targets"]:
            address, scope, connect_error, tls = network.get(target["fqdn"], (None, None, None, None))
            result = {
                "probe": conf["probe"],
                **target,
                "address": address,
                "scope": scope,
                "resolve_error": None if address else "does not resolve (no such name, or no A record)",
                "connect_ms": 4.2 if address and not connect_error else None,
                "connect_error": connect_error,
                "tls": tls,
                "tls_detail": "TLSv1.3, certificate verified" if tls == "ok" else None,
            }
            lines.append(f"{PREFIX}result {json.dumps(result)}")
        if done:
            lines.append(f"{PREFIX}done {json.dumps({'probe': conf['probe']})}")
        return "\n".join(lines)

    return console


def prober(compute: FakeCompute, clock: Clock, **kwargs: Any) -> PoolProbe:
    return PoolProbe(
        compute,
        "ssh-ed25519 AAAA test",
        poll_s=5.0,
        now=clock.now,
        sleep=clock.sleep,
        token=lambda: "0a1b2c3d",
        **kwargs,
    )


NAME = "rf-aks-prod-probe-0a1b2c3d"


async def test_a_healthy_network_passes_every_target_and_the_vm_is_deleted() -> None:
    """The VM is made with the pool's first size and image, tagged kind=probe, read, judged, deleted."""
    compute, clock = FakeCompute(console_for=guest(HEALTHY)), Clock()
    seen: list[VmSpec] = []

    async def remember(spec: VmSpec) -> None:
        seen.append(spec)

    compute.on_create = remember
    outcome = await prober(compute, clock)(POOL, TARGETS)
    assert outcome.ok and outcome.ending == "done" and outcome.deleted == "accepted"
    assert [v.status for v in outcome.verdicts] == ["pass"] * 4
    [spec] = seen
    assert (spec.name, spec.size, spec.spot, spec.pool) == (NAME, POOL.azure.vm_sizes[0], False, POOL)
    assert spec.tags["kind"] == "probe" and spec.tags["pool"] == "aks-prod"
    assert probe_conf(spec)["probe"] == NAME
    assert compute.created == [NAME] and compute.deleted == [NAME] and compute.vms == {}


async def test_an_unresolved_name_fails_its_target_and_the_vm_is_still_deleted() -> None:
    """custom DNS that does not forward: the API server does not resolve; the others pass."""
    network = {**HEALTHY, AKS_FQDN: (None, None, None, None)}
    compute, clock = FakeCompute(console_for=guest(network)), Clock()
    outcome = await prober(compute, clock)(POOL, TARGETS)
    assert not outcome.ok and outcome.ending == "done"
    api = outcome.verdicts[0]
    assert api.status == "fail" and api.message.startswith(f"{AKS_FQDN} does not resolve")
    assert compute.deleted == [NAME]


async def test_the_vm_is_awaited_while_it_is_built_then_its_console_until_done() -> None:
    """Creating: polled; running with no log yet: polled; the done line ends the wait."""
    compute, clock = FakeCompute(), Clock()
    compute.provisioning[NAME] = "Creating"
    network = guest(HEALTHY)
    polls = {"get": 0}
    real_get = compute.get_vm

    async def get_vm(pool: Any, name: str) -> VmInfo | None:
        polls["get"] += 1
        if polls["get"] == 3:
            compute.provisioning[NAME] = "Succeeded"
        return await real_get(pool, name)

    def console(spec: VmSpec) -> str | None:
        return network(spec) if compute.serial_reads >= 3 else None

    compute.get_vm = get_vm  # type: ignore[method-assign]
    compute.console_for = console
    outcome = await prober(compute, clock)(POOL, TARGETS)
    # Three reads until it runs, then one after each console read that had no `done` (still on?).
    assert outcome.ok and polls["get"] == 5 and compute.serial_reads == 3
    assert clock.slept == [5.0] * 4


async def test_a_vm_that_powers_off_without_done_ends_the_probe_at_once() -> None:
    """Powered off with no `done`: the console says all it will, so the probe ends then, not at the
    timeout, judges what it heard and deletes the VM."""
    compute, clock = FakeCompute(console_for=guest(HEALTHY, done=False)), Clock()
    compute.power[NAME] = "stopped"
    outcome = await prober(compute, clock, timeout_s=600)(POOL, TARGETS)
    assert outcome.ending == "failed" and "powered off without finishing" in outcome.message
    assert not outcome.ok and clock.t - START < 60
    assert compute.deleted == [NAME]


async def test_a_console_that_never_says_done_times_out_and_the_vm_is_deleted() -> None:
    """No `done` within the timeout: the targets heard from are judged, the rest fail; exit is a failure."""
    compute, clock = FakeCompute(console_for=guest(HEALTHY, done=False)), Clock()
    outcome = await prober(compute, clock, timeout_s=60)(POOL, TARGETS)
    assert outcome.ending == "timeout" and not outcome.ok
    assert "no `done` on the serial console within 60s" in outcome.message
    assert [v.status for v in outcome.verdicts] == ["pass"] * 4
    assert compute.deleted == [NAME] and clock.t - START >= 60


async def test_a_vm_that_never_boots_times_out_saying_the_script_never_started() -> None:
    """An empty console until the timeout: every target fails as not heard from."""
    compute, clock = FakeCompute(), Clock()
    outcome = await prober(compute, clock, timeout_s=60)(POOL, TARGETS)
    assert outcome.ending == "timeout" and "the probe script never started" in outcome.message
    assert {v.message for v in outcome.verdicts} == {"no result before the probe timed out"}
    assert compute.deleted == [NAME]


async def test_a_refused_create_is_reported_and_nothing_is_left() -> None:
    """Capacity refused: not-created, the reason named, the delete finds no VM."""
    compute, clock = FakeCompute(reject={("Standard_D2ads_v5", False): "SkuNotAvailable"}), Clock()
    outcome = await prober(compute, clock)(POOL, TARGETS)
    assert outcome.ending == "not-created" and "SkuNotAvailable" in outcome.message
    assert outcome.deleted == "absent" and {v.message for v in outcome.verdicts} == {
        f"not probed: {outcome.message}"
    }


async def test_a_vm_that_fails_to_provision_is_reported_and_deleted() -> None:
    """Failed after the PUT: the failure's code and message; the VM still goes."""
    compute, clock = FakeCompute(), Clock()
    compute.provisioning[NAME] = "Failed"
    compute.failures[NAME] = CreateFailure("AllocationFailed", "no capacity", capacity=True)
    outcome = await prober(compute, clock)(POOL, TARGETS)
    assert outcome.ending == "failed" and "AllocationFailed: no capacity" in outcome.message
    assert compute.deleted == [NAME]


async def test_an_exception_mid_wait_ends_the_probe_and_the_vm_is_deleted() -> None:
    """Reading the VM raises: the probe ends as an error naming it, the VM is deleted."""
    compute, clock = FakeCompute(), Clock()

    async def broken(pool: Any, name: str) -> VmInfo | None:
        raise RuntimeError("ARM went away")

    compute.get_vm = broken  # type: ignore[method-assign]
    outcome = await prober(compute, clock)(POOL, TARGETS)
    assert outcome.ending == "error" and "RuntimeError" not in outcome.message
    assert "ARM went away" in outcome.message and compute.deleted == [NAME]


async def test_a_console_read_that_fails_is_tried_again() -> None:
    """One failed read of the serial log is not the end: the next poll reads it."""
    compute, clock = FakeCompute(console_for=guest(HEALTHY)), Clock()
    real = compute.serial_log
    failures = {"left": 1}

    async def flaky(pool: Any, name: str) -> str | None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("reading the serial log failed: ClientOSError")
        return await real(pool, name)

    compute.serial_log = flaky  # type: ignore[method-assign]
    outcome = await prober(compute, clock)(POOL, TARGETS)
    assert outcome.ok and compute.deleted == [NAME]


async def test_cancelled_while_waiting_for_the_console_the_vm_is_deleted_before_it_ends() -> None:
    """Ctrl-C (a cancellation) mid-wait: the delete runs and finishes, then the cancellation goes on."""
    read = asyncio.Event()
    compute, clock = FakeCompute(console_for=guest(HEALTHY, done=False, read=read)), Clock()
    ledger = ProbeLedger()
    task = asyncio.create_task(prober(compute, clock, ledger=ledger, timeout_s=3600)(POOL, TARGETS))
    await read.wait()  # a positive sign: it is reading the console
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert compute.deleted == [NAME] and compute.vms == {}
    assert ledger.vms == {NAME: "delete accepted"}


@dataclass
class SlowDelete(FakeCompute):
    """Deletes wait for the test's go: what a slow Resource Manager looks like."""

    go: asyncio.Event = field(default_factory=asyncio.Event)
    deleting: asyncio.Event = field(default_factory=asyncio.Event)

    async def delete_vm(self, pool: Any, name: str, *, wait: bool = True) -> bool:
        self.deleting.set()
        await self.go.wait()
        return await super().delete_vm(pool, name, wait=wait)


async def test_cancelled_again_during_the_delete_the_delete_still_completes() -> None:
    """A second cancellation while the delete is in flight does not abandon it."""
    read = asyncio.Event()
    compute, clock = SlowDelete(console_for=guest(HEALTHY, done=False, read=read)), Clock()
    task = asyncio.create_task(prober(compute, clock, timeout_s=3600)(POOL, TARGETS))
    await read.wait()
    task.cancel()
    await compute.deleting.wait()
    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done() and compute.deleted == []
    compute.go.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert compute.deleted == [NAME] and compute.vms == {}


async def test_a_put_cut_off_by_a_cancellation_is_looked_for_again() -> None:
    """Cancelled while the PUT is on its way: the delete finds no VM at first, looks again, and
    deletes the one the PUT made meanwhile."""
    compute, clock = FakeCompute(), Clock()
    sent = asyncio.Event()
    hold = asyncio.Event()

    async def slow_put(spec: VmSpec) -> None:
        sent.set()
        await hold.wait()

    compute.on_create = slow_put
    task = asyncio.create_task(prober(compute, clock)(POOL, TARGETS))
    await sent.wait()
    task.cancel()

    real_delete = compute.delete_vm
    calls = {"n": 0}

    async def delete_vm(pool: Any, name: str, *, wait: bool = True) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:  # the PUT lands after the first look
            compute.vms[name] = VmSpec(name, POOL, "Standard_D2ads_v5", "", {"kind": "probe"}, "k")
        return await real_delete(pool, name, wait=wait)

    compute.delete_vm = delete_vm  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls["n"] == 2 and compute.deleted == [NAME]


async def test_a_delete_that_fails_is_reported_with_what_happens_to_the_vm() -> None:
    """The VM could not be deleted: the outcome says so and that the reconciler deletes it later."""
    compute, clock = FakeCompute(console_for=guest(HEALTHY)), Clock()

    async def refused(pool: Any, name: str, *, wait: bool = True) -> bool:
        raise VmCreateRejected("AuthorizationFailed", "no delete permission")

    compute.delete_vm = refused  # type: ignore[method-assign]
    ledger = ProbeLedger()
    outcome = await prober(compute, clock, ledger=ledger)(POOL, TARGETS)
    assert (outcome.deleted == "failed" and outcome.ok is not False) or outcome.deleted == "failed"
    assert "could not be deleted" in outcome.message and "reconciler deletes it" in outcome.message
    assert ledger.vms[NAME].startswith("delete failed")


def _left_probe(compute: FakeCompute, name: str, created: float, timeout_s: float = 600) -> None:
    """A probe VM whose process was killed: it exists, tagged, and nobody deletes it."""
    tags = probe_tags("aks-prod", "github", name, created, timeout_s)
    compute.vms[name] = VmSpec(name, POOL, "Standard_D2ads_v5", "", tags, "k")


async def test_the_next_probe_deletes_the_pools_expired_probe_vms_first() -> None:
    """Expired ones of this pool go first; a live one (another operator's) and other pools' stay."""
    compute, clock = FakeCompute(console_for=guest(HEALTHY)), Clock()
    _left_probe(compute, "rf-aks-prod-probe-00000001", START - 600 - DELETE_GRACE_S)
    _left_probe(compute, "rf-aks-prod-probe-00000002", START - 10)
    other = make_pool("aks-dev", ("aks-dev",))
    tags = probe_tags("aks-dev", "github", "rf-aks-dev-probe-00000003", START - 7200, 600)
    compute.vms["rf-aks-dev-probe-00000003"] = VmSpec("rf-aks-dev-probe-00000003", other, "s", "", tags, "k")
    outcome = await prober(compute, clock)(POOL, TARGETS)
    assert outcome.reaped == ("rf-aks-prod-probe-00000001",)
    assert sorted(compute.vms) == ["rf-aks-dev-probe-00000003", "rf-aks-prod-probe-00000002"]


class Now:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _reconciler(compute: FakeCompute, now: Callable[[], float]) -> Reconciler:
    return Reconciler(
        {POOL.name: POOL},
        FleetState(MemoryStateTable(), clock=now),
        compute,
        {"github": FakeRegistry()},
        MemoryWorkQueue(),
        now=now,
    )


async def test_the_reconciler_deletes_a_probe_vm_once_it_has_expired_and_never_judges_it_a_runner() -> None:
    """Before expires-at nothing happens to it (no suspect, no runner view); after, it is deleted at once."""
    compute, now = FakeCompute(), Now(START)
    _left_probe(compute, NAME, START)
    report = await _reconciler(compute, now)()
    assert report.runners_seen == 0 and report.marked == [] and report.acted == [] and NAME in compute.vms
    now.t = START + 600 + DELETE_GRACE_S
    dry = await _reconciler(compute, now)(dry_run=True)
    assert [a["outcome"] for a in dry.acted] == ["would act (dry run)"] and NAME in compute.vms
    report = await _reconciler(compute, now)()
    assert report.acted == [
        {
            "runner": NAME,
            "pool": "aks-prod",
            "action": "delete",
            "reason": "probe VM past its expires-at (its doctor --probe did not delete it)",
            "outcome": "deleted",
        }
    ]
    assert compute.vms == {}


async def test_the_reconciler_leaves_probe_vms_of_pools_it_does_not_know() -> None:
    """A probe VM of a pool no longer configured is left alone, as that pool's runners are."""
    compute, now = FakeCompute(), Now(START + 7200)
    tags = probe_tags("gone", "github", "rf-gone-probe-0a1b2c3d", START, 600)
    compute.vms["rf-gone-probe-0a1b2c3d"] = VmSpec("rf-gone-probe-0a1b2c3d", POOL, "s", "", tags, "k")
    report = await _reconciler(compute, now)()
    assert report.acted == [] and "rf-gone-probe-0a1b2c3d" in compute.vms


def test_target_documents_follow_the_contract() -> None:
    """Every target as probe.json carries it."""
    target = ProbeTarget("endpoint", "acrprod.azurecr.io", "acrprod.azurecr.io", 443, "private")
    assert target.document() == {
        "target": "endpoint",
        "name": "acrprod.azurecr.io",
        "fqdn": "acrprod.azurecr.io",
        "port": 443,
        "expect": "private",
    }
