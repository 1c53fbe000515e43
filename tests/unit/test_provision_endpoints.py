"""The private endpoints a pool's preflight found reach the runner's runner.json, so the VM checks them
before its runner registers; the gate's cached report is what is asked, never Azure again."""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from runner_fleet import naming
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.logs import get_logger
from runner_fleet.messages import PoolRunnerRequest, ProvisionRequest
from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.preflight.cached_gate import CachedGate
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from tests.builders import make_pool, make_provisioner, provision_work
from tests.fakes import FakeCompute, FakeRegistry

POOL = make_pool("aks-prod", ("aks-prod",), limits={"warm": 1})
ENDPOINTS = ("acrprod.azurecr.io", "acrprod.westeurope.data.azurecr.io", "kv-prod.vault.azure.net")
REQUEST = ProvisionRequest(
    forge="github", pool="aks-prod", job_id=42, org="example-org", labels=("aks-prod",)
)


class _PassingGate(CachedGate):
    """A gate (cached as the real ones are) whose checks pass and name the pool's endpoints; it counts
    the times its checks run, each of which would be reads of Resource Manager."""

    event = "test-gate"

    def __init__(self, endpoints: tuple[str, ...]) -> None:
        super().__init__(get_logger("test"))
        self.endpoints = endpoints
        self.runs = 0

    async def _checks(self, pool: Pool) -> PreflightReport:
        self.runs += 1
        passing = CheckResult("dns-link", "pass", "/subscriptions/x/privateDnsZones/z", "linked")
        return PreflightReport(pool.name, (passing,), endpoints=self.endpoints)

    def _error(self, pool: Pool, exc: Exception) -> PreflightReport:
        raise AssertionError(f"the checks raised {exc!r}")

    async def close(self) -> None:
        return None


def _runner_json(compute: FakeCompute, name: str) -> dict[str, Any]:
    user_data = yaml.safe_load(base64.b64decode(compute.vms[name].custom_data_b64))
    [conf] = [f for f in user_data["write_files"] if f["path"] == "/etc/runner-fleet/runner.json"]
    loaded: dict[str, Any] = json.loads(conf["content"])
    return loaded


async def test_a_jobs_runner_checks_the_endpoints_its_pools_preflight_found() -> None:
    """The gate's report names three endpoints: the VM's runner.json lists them, each on TCP 443."""
    state, compute, registry, gate = (
        FleetState(MemoryStateTable()),
        FakeCompute(),
        FakeRegistry(),
        _PassingGate(ENDPOINTS),
    )
    provision = make_provisioner({POOL.name: POOL}, state, compute, {"github": registry}, preflight=gate)
    result = await provision(REQUEST, message_id="m1")
    assert result.outcome == "created"
    name = naming.runner_name("aks-prod", "github", "42")
    assert _runner_json(compute, name)["endpoints"] == [{"fqdn": fqdn, "port": 443} for fqdn in ENDPOINTS]
    assert gate.runs == 1  # the gate and the runner's endpoints share one preflight


async def test_a_pool_runner_checks_them_too() -> None:
    """A warm runner, made for the pool and not for a job, carries the same endpoints."""
    state, compute, registry, gate = (
        FleetState(MemoryStateTable()),
        FakeCompute(),
        FakeRegistry(),
        _PassingGate(ENDPOINTS),
    )
    provisioner = make_provisioner({POOL.name: POOL}, state, compute, {"github": registry}, preflight=gate)
    work = provision_work(provisioner, MemoryWorkQueue())
    request = PoolRunnerRequest(forge="github", pool="aks-prod", key="w1", reason="warm")
    assert (await work.pool_provisioner(request, message_id="m1")).outcome == "created"
    name = naming.pool_runner_name("aks-prod", "github", "w1")
    assert [e["fqdn"] for e in _runner_json(compute, name)["endpoints"]] == list(ENDPOINTS)


async def test_without_a_gate_a_runner_checks_no_endpoint() -> None:
    """No preflight gate configured: runner.json lists no endpoints (and the runner checks none)."""
    state, compute = FleetState(MemoryStateTable()), FakeCompute()
    provision = make_provisioner({POOL.name: POOL}, state, compute, {"github": FakeRegistry()})
    await provision(REQUEST, message_id="m1")
    assert _runner_json(compute, naming.runner_name("aks-prod", "github", "42"))["endpoints"] == []
