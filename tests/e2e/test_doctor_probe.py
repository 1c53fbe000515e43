"""`runner-fleet doctor --probe`: a VM in each pool's subnet, played by the ARM simulator's probe guest
over the simulated network, reports what it reached; its verdicts decide the exit code; and the VM is
gone afterwards, also when the command is interrupted (SIGINT, SIGTERM) while it waits for the
console. A VM left by SIGKILL is deleted by the reconciler once its expires-at tag has passed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runner_fleet
from runner_fleet import logs
from runner_fleet.adapters.azure.clients import ArmConnection
from runner_fleet.adapters.azure.compute import AzureCompute
from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.cli import main
from runner_fleet.cloudinit import to_custom_data
from runner_fleet.forges import Forge
from runner_fleet.ports.compute import VmSpec
from runner_fleet.ports.forge import RunnerRegistry
from runner_fleet.probe.console import read_console
from runner_fleet.probe.targets import probe_targets
from runner_fleet.probe.userdata import render_probe_user_data
from runner_fleet.probe.vm import DELETE_GRACE_S, probe_tags
from runner_fleet.settings import load_service_settings
from runner_fleet.sshkey import unusable_public_key
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.reconcile.reconciler import Reconciler
from simulator.arm import ArmSimulator
from simulator.arm.identity import IdentityEndpoint
from simulator.arm.topology import AKS_FQDN
from simulator.server import BackgroundLoop
from simulator.testing import eventually
from tests.e2e.preflight_sim import example_pools, simulated_arm
from tests.fakes import FakeRegistry

pytestmark = pytest.mark.e2e

EXAMPLE_POOLS = Path(runner_fleet.__file__).parent / "defaults" / "example-pools.yaml"
PROBE_KEYS = ["pool", "ok", "ending", "message", "vm", "size", "deleted", "reaped", "seconds", "targets"]
TARGET_KEYS = [
    "target",
    "name",
    "fqdn",
    "port",
    "expect",
    "status",
    "address",
    "scope",
    "connect_ms",
    "tls",
    "message",
]
# Anything DefaultAzureCredential would try before the managed identity.
_OTHER_CREDENTIALS = (
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_FEDERATED_TOKEN_FILE",
    "MSI_ENDPOINT",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`--probe` sends warnings to stderr; later tests get the default configuration back."""
    yield
    logs.configure("json", stream=sys.stderr)


def doctor_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_custom_dns_with_a_probe_fails_naming_the_api_server(capsys: pytest.CaptureFixture[str]) -> None:
    """custom-dns --probe --pool aks-prod: exit 1, the API server name in the output, the warning a fail."""
    assert main(["doctor", "--simulate", "custom-dns", "--probe", "--pool", "aks-prod"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert AKS_FQDN in out and "FAIL custom-dns" in out
    assert f"FAIL api-server {AKS_FQDN}" in out and "does not resolve" in out
    assert "1 of 1 probe(s) fail (aks-prod)" in out


def test_custom_dns_probe_document(capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON: the API server target fails unresolved, the forge's pass, custom-dns is now a fail."""
    code, document = doctor_json(capsys, "--simulate", "custom-dns", "--probe", "--pool", "aks-prod")
    assert code == 1 and document["ok"] is False
    [probe] = document["probes"]
    assert list(probe) == PROBE_KEYS and all(list(t) == TARGET_KEYS for t in probe["targets"])
    assert (probe["ending"], probe["deleted"], probe["ok"]) == ("done", "accepted", False)
    api, *others = probe["targets"]
    assert (api["target"], api["fqdn"]) == ("api-server", AKS_FQDN)
    assert (api["status"], api["address"]) == ("fail", None)
    # The private endpoints' names get their public answers; the forge is reached.
    assert {t["status"] for t in others if t["target"] == "endpoint"} <= {"fail"}
    assert {(t["scope"], t["status"]) for t in others if t["target"] == "forge"} == {("public", "pass")}
    [custom] = [c for c in document["pools"][0]["checks"] if c["name"] == "custom-dns"]
    assert custom["status"] == "fail" and custom["message"].startswith(AKS_FQDN)


def test_healthy_with_a_probe_passes_every_pool(capsys: pytest.CaptureFixture[str]) -> None:
    """healthy --probe: exit 0, one probe per pool, every target passes, every VM deleted."""
    code, document = doctor_json(capsys, "--simulate", "healthy", "--probe")
    assert code == 0 and document["ok"] is True
    assert list(document) == ["schema", "ok", "summary", "pools", "fixes", "probes"]
    probes = document["probes"]
    assert [p["pool"] for p in probes] == ["aks-prod", "aks-dev", "gl-aks", "aks-ops"]
    assert all(p["ok"] and p["ending"] == "done" and p["deleted"] == "accepted" for p in probes)
    prod = probes[0]
    assert prod["size"] == "Standard_D2ads_v5" and prod["vm"].startswith("rf-aks-prod-probe-")
    api, *endpoints, github, api_github, broker = prod["targets"]
    assert (api["target"], api["fqdn"], api["scope"]) == ("api-server", AKS_FQDN, "private")
    # The example pool's registry and vault, by the names their private endpoints carry.
    assert {t["fqdn"] for t in endpoints} >= {"acrprod.azurecr.io", "kv-prod.vault.azure.net"}
    assert {(t["target"], t["scope"]) for t in endpoints} == {("endpoint", "private")}
    assert [(t["target"], t["fqdn"], t["scope"]) for t in (github, api_github, broker)] == [
        ("forge", "github.com", "public"),
        ("forge", "api.github.com", "public"),
        ("forge", "broker.actions.githubusercontent.com", "public"),
    ]
    assert [t["fqdn"] for t in probes[2]["targets"]] == [AKS_FQDN, "gitlab.com"]


def test_the_probe_table_sits_under_its_pool_within_80_columns() -> None:
    """Piped at 80 columns: each pool's probe table follows its checks, no line wider, exit 0."""
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("RUNNER_POOLS", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner_fleet.cli",
            "doctor",
            "--simulate",
            "healthy",
            "--probe",
            "--pool",
            "aks-prod",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80 and "\x1b[" not in done.stdout
    starts = [
        i for i, line in enumerate(lines) if line.startswith(("pool aks-prod", "probe rf-aks-prod-probe-"))
    ]
    assert len(starts) == 2 and starts[0] < starts[1]
    assert len(lines) < 50  # a pool and its probe fit one screen
    assert "all 1 probe(s) pass" in done.stdout
    assert "creating probe VM rf-aks-prod-probe-" in done.stderr  # progress goes to stderr


async def test_the_adapter_reads_the_serial_log_through_one_sas_uri() -> None:
    """serial_log: None for a VM that is not there; the probe's lines once it ran; the SAS URI that
    retrieveBootDiagnosticsData gave is reused, so reading again costs Resource Manager nothing."""
    pool = next(p for p in example_pools() if p.name == "aks-prod")
    with simulated_arm("healthy") as sim:
        compute = _compute(sim)
        try:
            assert await compute.serial_log(pool, "rf-aks-prod-probe-00000000") is None
            name = "rf-aks-prod-probe-0a1b2c3d"
            targets = probe_targets(pool, load_service_settings({}))
            spec = VmSpec(
                name,
                pool,
                pool.azure.vm_sizes[0],
                to_custom_data(render_probe_user_data(name, targets)),
                probe_tags(pool.name, pool.forge, name, time.time(), 600),
                unusable_public_key(),
            )
            await compute.start_create(spec)

            async def done() -> str | None:
                text = await compute.serial_log(pool, name)
                return text if text is not None and read_console(text, name).done else None

            text = await eventually(done, within_s=30, poll_s=0.05, what="the probe's done line")
            assert len(read_console(text, name).results) == len(targets)
            asked = [e for e in sim.request_log() if e["path"].endswith("/retrieveBootDiagnosticsData")]
            assert len(asked) == 2  # the VM that was not there, then this one: once
            assert await compute.delete_vm(pool, name, wait=True)
        finally:
            await compute.close()


def _compute(arm: ArmSimulator) -> AzureCompute:
    return AzureCompute(
        ArmConnection(
            StaticTokenCredential(),
            endpoint=arm.base_url,
            ca_bundle=str(arm.ca_bundle),
            polling_interval_s=0.1,
        )
    )


# --- interrupted and killed ----------------------------------------------------------------------


def _probe_vms(arm: ArmSimulator) -> list[dict[str, Any]]:
    return [vm for vm in arm.vms() if vm["tags"].get("kind") == "probe"]


def _left_of(arm: ArmSimulator, name: str) -> list[str]:
    """Every resource the probe VM brought (itself, its NIC, its disk) still stored."""
    return [r["id"] for r in arm.resources() if f"/{name}".lower() in r["id"].lower()]


class Doctor:
    """`runner-fleet doctor --probe --pool aks-prod` as its own process, as production runs it: the
    token from the managed identity endpoint, Resource Manager at the simulator."""

    def __init__(self, arm: ArmSimulator, identity: IdentityEndpoint) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _OTHER_CREDENTIALS and k != "RUNNER_POOLS"}
        env |= {
            **identity.environment(),
            "AZURE_CLIENT_ID": "5f0c7f2e-8d7b-4a39-9a51-0c3d2b8e6a11",
            "ARM_ENDPOINT": arm.base_url,
            "ARM_CA_BUNDLE": str(arm.ca_bundle),
            "RUNNER_POOLS_FILE": str(EXAMPLE_POOLS),
            "COLUMNS": "100",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runner_fleet.cli", "doctor", "--probe", "--pool", "aks-prod"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        assert self.process.stderr is not None
        self._reader = threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True)
        self._reader.start()

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.stderr.append(line)

    def finish(self) -> tuple[int, str, str]:
        """Its exit code, stdout and stderr once it has exited (stderr is read by the drain alone)."""
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()
        code = self.process.wait(timeout=120)
        self._reader.join(timeout=10)
        return code, stdout, "".join(self.stderr)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def identity() -> Iterator[IdentityEndpoint]:
    loop = BackgroundLoop("doctor-probe-identity")
    endpoint = IdentityEndpoint(loop)
    endpoint.start()
    yield endpoint
    loop.close()


@pytest.fixture
def arm() -> Iterator[ArmSimulator]:
    """The healthy network, with a probe VM whose OS never comes up: the probe waits on its console."""
    with simulated_arm("healthy") as sim:
        sim.configure(never_boot={"count": 1})
        yield sim


async def _waiting_for_the_console(arm: ArmSimulator) -> str:
    """The positive sign that the process is in its console wait: its probe VM exists and it has asked
    for the VM's serial log."""

    def waiting() -> str | None:
        vms = _probe_vms(arm)
        asked = any(e["path"].endswith("/retrieveBootDiagnosticsData") for e in arm.request_log())
        return vms[0]["name"] if vms and asked else None

    found: str = await eventually(
        lambda: asyncio.to_thread(waiting), within_s=90, poll_s=0.1, what="the probe waiting for its console"
    )
    return found


@pytest.mark.parametrize(
    ("sent", "code", "how"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["SIGINT", "SIGTERM"],
)
async def test_probe_interrupted_half_way_leaves_no_vm_nic_or_disk(
    arm: ArmSimulator, identity: IdentityEndpoint, sent: signal.Signals, code: int, how: str
) -> None:
    """Killed half-way (SIGINT, SIGTERM) while waiting for the console: the command deletes its VM
    before it exits, says so, and the simulator ends up holding nothing of it."""
    doctor = Doctor(arm, identity)
    try:
        name = await _waiting_for_the_console(arm)
        doctor.process.send_signal(sent)
        returncode, _, stderr = await asyncio.to_thread(doctor.finish)
    finally:
        doctor.kill()
    assert returncode == code, stderr
    assert f"runner-fleet: {how}" in stderr and f"probe VM {name}: delete accepted" in stderr
    await eventually(
        lambda: asyncio.to_thread(lambda: not _left_of(arm, name)),
        within_s=30,
        poll_s=0.1,
        what=f"every resource of {name} deleted",
    )
    assert _probe_vms(arm) == [] and [vm["name"] for vm in arm.deleted_vms()] == [name]


async def test_a_probe_vm_left_by_sigkill_is_deleted_by_the_reconciler_once_expired(
    arm: ArmSimulator, identity: IdentityEndpoint
) -> None:
    """SIGKILL leaves the VM; a reconcile round before its expires-at leaves it too, one after deletes it."""
    doctor = Doctor(arm, identity)
    try:
        name = await _waiting_for_the_console(arm)
        doctor.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(doctor.process.wait, 30)
    finally:
        doctor.kill()
    [left] = _probe_vms(arm)
    assert left["name"] == name and left["tags"]["pool"] == "aks-prod" and "expires-at" in left["tags"]
    pools = {p.name: p for p in example_pools()}
    compute = _compute(arm)
    registries: dict[Forge, RunnerRegistry] = {"github": FakeRegistry(), "gitlab": FakeRegistry()}
    try:
        for at, deleted in ((time.time(), False), (time.time() + 60 + 600 + DELETE_GRACE_S, True)):
            clock = lambda at=at: at  # noqa: E731 - the round's clock
            round_ = Reconciler(
                pools,
                FleetState(MemoryStateTable(), clock=clock),
                compute,
                registries,
                MemoryWorkQueue(),
                now=clock,
            )
            report = await round_()
            assert [a["runner"] for a in report.acted] == ([name] if deleted else [])
            assert report.runners_seen == 0  # never taken for a runner
    finally:
        await compute.close()
    await eventually(
        lambda: asyncio.to_thread(lambda: not _left_of(arm, name)),
        within_s=30,
        poll_s=0.1,
        what=f"every resource of {name} deleted",
    )
