"""The whole private path: what the preflight reads from Azure Resource Manager, and what a probe VM
finds, for each of a list of network scenarios.

For each scenario, a fresh ARM simulator is loaded with its topology (`simulator.arm.scenarios`),
with the clock and timings of `runner-fleet doctor --simulate` (time scale 20: a probe VM is up in
about a second and a half). Then, as the doctor does:

- **the preflight** of every example pool (`load_pools(..., use_example=True)`), one after the other:
  `run_preflight` with the service's reader (`azure_reader_factory`: the real `AzureTopologyReader`
  on azure-mgmt-network and friends). The simulator's request log before and after each one gives
  the requests that pool's preflight made, by resource type;
- **the probe** of pool `aks-prod`: the doctor's `probe_pools` (a `PoolProbe`: a VM in the pool's
  subnet whose guest resolves and connects to the API server, the private endpoints' names and the
  forge's hosts over the simulated network, reports on its serial console and is deleted), with
  that pool's preflight as `--probe` uses it (its topology and endpoint names). Afterwards the
  simulator is watched until it holds no VM (the doctor does not wait for the delete to complete).

Each scenario has the verdict it should give (`EXPECTATIONS`); the run reports whether it did.

**Private-path reads.** The reads the egress and private-endpoint checks add: every request for a
resource of one of `PRIVATE_PATH_TYPES` (or a child of one: a policy's rule collection groups, an
endpoint's DNS zone groups), and every read of a private DNS zone (the zone, its links, its A
records) that no configured pool names in its `cluster` settings: the zones the private endpoints
lead to. The rest is what the preflight reads without them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from runner_fleet.cli.doctor import ProbeSetup, probe_compute_factory, probe_pools
from runner_fleet.ports.preflight import PreflightReport
from runner_fleet.preflight.factory import azure_reader_factory
from runner_fleet.preflight.run import Preflight, run_preflight
from runner_fleet.probe.report import settle_custom_dns
from runner_fleet.probe.run import ProbeOutcome
from runner_fleet.settings import Pool, ServiceSettings, load_pools, load_service_settings
from simulator.arm import ArmConfig, ArmSimulator, Timing
from simulator.arm.scenarios import scenario
from simulator.clock import SimClock
from simulator.server import BackgroundLoop
from simulator.tls import LoopbackTls, make_loopback_tls

Progress = Callable[[str], None]

PROBE_POOL = "aks-prod"
PRIVATE_PATH_TYPES = (
    "Microsoft.Network/natGateways",
    "Microsoft.Network/routeTables",
    "Microsoft.Network/azureFirewalls",
    "Microsoft.Network/firewallPolicies",
    "Microsoft.Network/ipGroups",
    "Microsoft.Network/privateEndpoints",
)
# Enough that no request of a scenario falls out of the simulator's bounded log.
REQUEST_LOG_SIZE = 100_000
TIME_NOTE = (
    "times are real seconds (ms: milliseconds); the simulator's clock runs time_scale times faster "
    "(at 20, a probe VM's 20 s create and 10 s boot take 1.5 s); *_sim_s figures are the real ones "
    "multiplied back by time_scale"
)


# --- what each scenario should give ---------------------------------------------------------------


def _failing(report: PreflightReport) -> list[str]:
    return _names(report, "fail")


def _warning(report: PreflightReport) -> list[str]:
    return _names(report, "warn")


def _names(report: PreflightReport, status: str) -> list[str]:
    return list(dict.fromkeys(c.name for c in report.checks if c.status == status))


@dataclass(frozen=True)
class Observed:
    reports: dict[str, PreflightReport]  # every pool's
    probe: ProbeOutcome

    @property
    def probed(self) -> PreflightReport:
        return self.reports[PROBE_POOL]

    def failing_targets(self) -> set[str]:
        return {f"{v.target.target} {v.target.fqdn}" for v in self.probe.verdicts if v.status == "fail"}

    def targets(self, kind: str, fqdn_prefix: str = "") -> set[str]:
        return {
            f"{v.target.target} {v.target.fqdn}"
            for v in self.probe.verdicts
            if v.target.target == kind and v.target.fqdn.lower().startswith(fqdn_prefix)
        }


Check = Callable[[Observed], list[str]]  # what was not as expected (nothing: as expected)


def _no_pool_fails(seen: Observed) -> list[str]:
    return [f"{pool} fails {', '.join(_failing(r))}" for pool, r in seen.reports.items() if not r.ok]


def _probe_passes(seen: Observed) -> list[str]:
    if seen.probe.ok:
        return []
    return [f"the probe did not pass ({seen.probe.ending}): {sorted(seen.failing_targets())}"]


def _fails_exactly(*checks: str) -> Check:
    def check(seen: Observed) -> list[str]:
        found = _failing(seen.probed)
        return [] if set(found) == set(checks) else [f"{PROBE_POOL} fails {found}, expected {list(checks)}"]

    return check


def _warns(name: str) -> Check:
    def check(seen: Observed) -> list[str]:
        found = _warning(seen.probed)
        return [] if name in found else [f"{PROBE_POOL} warns {found}, expected {name} among them"]

    return check


def _probe_fails_only(targets: Callable[[Observed], set[str]], what: str) -> Check:
    """The probe finished, and the targets that failed are exactly `targets` (and there are some)."""

    def check(seen: Observed) -> list[str]:
        if seen.probe.ending != "done":
            return [f"the probe did not finish: {seen.probe.ending}: {seen.probe.message}"]
        wanted, failed = targets(seen), seen.failing_targets()
        if wanted and failed == wanted:
            return []
        return [f"the probe's failing targets are {sorted(failed)}, expected {what}: {sorted(wanted)}"]

    return check


def _acr_public(seen: Observed) -> list[str]:
    acr = [v for v in seen.probe.verdicts if v.target.fqdn.lower().startswith("acrprod.")]
    public = [v for v in acr if v.result is not None and v.result.scope == "public"]
    if acr and len(public) == len(acr):
        return []
    return [f"acrprod's names resolve {[v.summary for v in acr]}, expected public addresses"]


def _api_server_unresolved(seen: Observed) -> list[str]:
    api = [v for v in seen.probe.verdicts if v.target.target == "api-server"]
    if (
        seen.probe.ending == "done"
        and api
        and all(v.status == "fail" and v.result is not None and v.result.address is None for v in api)
    ):
        return []
    return [
        f"the API server target gave {[v.summary for v in api]} ({seen.probe.ending}), expected unresolved"
    ]


def _all(*checks: Check) -> Check:
    return lambda seen: [miss for check in checks for miss in check(seen)]


@dataclass(frozen=True)
class Expectation:
    says: str
    check: Check


def _forge(seen: Observed) -> set[str]:
    return seen.targets("forge")


def _acr(seen: Observed) -> set[str]:
    return seen.targets("endpoint", "acrprod.")


_FORGE_BLOCKED = "the probe's forge targets (and only they) fail"
EXPECTATIONS: dict[str, Expectation] = {
    "healthy": Expectation("no pool fails a check; the probe passes", _all(_no_pool_fails, _probe_passes)),
    "firewall-egress": Expectation(
        "no pool fails a check; the probe passes", _all(_no_pool_fails, _probe_passes)
    ),
    "firewall-blocks-forge": Expectation(
        f"{PROBE_POOL} fails egress (only); {_FORGE_BLOCKED}",
        _all(_fails_exactly("egress"), _probe_fails_only(_forge, "the forge targets")),
    ),
    "appliance-egress": Expectation(
        f"{PROBE_POOL} fails nothing and warns egress; {_FORGE_BLOCKED} (the simulator drops them at the "
        "third-party appliance)",
        _all(_fails_exactly(), _warns("egress"), _probe_fails_only(_forge, "the forge targets")),
    ),
    "no-egress": Expectation(
        f"{PROBE_POOL} fails egress (only); {_FORGE_BLOCKED}",
        _all(_fails_exactly("egress"), _probe_fails_only(_forge, "the forge targets")),
    ),
    "acr-zone-unlinked": Expectation(
        f"{PROBE_POOL} fails dns-link (only); the probe's acrprod targets (and only they) fail, "
        "resolving to public addresses",
        _all(_fails_exactly("dns-link"), _probe_fails_only(_acr, "the acrprod targets"), _acr_public),
    ),
    "custom-dns": Expectation("the probe fails the API server target as unresolved", _api_server_unresolved),
}
DEFAULT_SCENARIOS = tuple(EXPECTATIONS)


@dataclass(frozen=True)
class PreflightSettings:
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS
    time_scale: float = 20.0
    probe_timeout_s: float = 60.0  # real seconds, the probe's whole run
    settle_s: float = 10.0  # real seconds to wait for the probe VM's delete to complete


# --- counting requests ----------------------------------------------------------------------------


def resource_type(path: str) -> str:
    """The resource type a request path names: `Microsoft.Network/privateDnsZones/A` for a record,
    `Microsoft.Network/privateEndpoints` for a subscription's list of them."""
    parts = [p for p in path.split("/") if p]
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return "Microsoft.Resources/resourceGroups" if "resourcegroups" in lowered else "subscriptions"
    at = len(lowered) - 1 - lowered[::-1].index("providers")
    namespace, rest = parts[at + 1 : at + 2], parts[at + 2 :]
    return "/".join((*namespace, *rest[0::2]))


def _zone_of(path: str) -> str | None:
    """The private DNS zone ID a request path is under (lower-cased), None when it is under none."""
    lowered = path.lower().rstrip("/")
    marker = "/providers/microsoft.network/privatednszones/"
    at = lowered.find(marker)
    if at < 0:
        return None
    rest = lowered[at + len(marker) :].split("/", 1)[0]
    return lowered[: at + len(marker)] + rest


def cluster_zones(pools: Sequence[Pool]) -> set[str]:
    """The private DNS zones the pools' `cluster` settings name (lower-cased IDs)."""
    zones: set[str] = set()
    for pool in pools:
        cluster = pool.cluster
        if cluster is None:
            continue
        for zone in (cluster.dns_zone_id, *cluster.extra_dns_zone_ids):
            if zone:
                zones.add(zone.lower().rstrip("/"))
    return zones


def is_private_path(path: str, known_zones: set[str]) -> bool:
    kind = resource_type(path)
    if any(kind == t or kind.startswith(t + "/") for t in PRIVATE_PATH_TYPES):
        return True
    zone = _zone_of(path)
    return zone is not None and zone not in known_zones


def request_figures(entries: Sequence[dict[str, Any]], known_zones: set[str]) -> dict[str, Any]:
    paths = [str(e["path"]) for e in entries]
    private = sum(is_private_path(p, known_zones) for p in paths)
    by_type = Counter(resource_type(p) for p in paths)
    return {
        "arm_requests": len(paths),
        "arm_requests_without_private_path_reads": len(paths) - private,
        "private_path_reads": private,
        "arm_errors": sum(1 for e in entries if int(e.get("status") or 0) >= 400),
        "by_type": dict(sorted(by_type.items())),
    }


class RequestWindow:
    """The simulator's request log from one point on."""

    def __init__(self, arm: ArmSimulator) -> None:
        self._arm = arm
        self._start = len(arm.request_log())

    def entries(self) -> list[dict[str, Any]]:
        logged = self._arm.request_log()
        if len(logged) >= REQUEST_LOG_SIZE:
            raise RuntimeError("the simulator's request log is full: requests would go uncounted")
        return logged[self._start :]


# --- one scenario ---------------------------------------------------------------------------------


@contextmanager
def simulated_arm(name: str, settings: PreflightSettings, tls: LoopbackTls) -> Iterator[ArmSimulator]:
    """The ARM simulator as `doctor --simulate NAME` starts it: its timings and clock."""
    loop = BackgroundLoop(f"bench-preflight-{name}")
    arm: ArmSimulator | None = None
    try:
        timing = Timing(link_s=20.0, poll_interval_s=1.0, provisioning_s=20.0, boot_s=10.0, delete_s=10.0)
        config = scenario(name).arm_config(ArmConfig(timing=timing, request_log_size=REQUEST_LOG_SIZE))
        arm = ArmSimulator(loop, clock=SimClock(settings.time_scale), config=config, tls=tls)
        arm.start()
        yield arm
    finally:
        if arm is not None:
            arm.stop()
        loop.close()


def service_settings(arm: ArmSimulator) -> ServiceSettings:
    """Only the simulator's endpoint: the example pools and the default forge hosts, whatever is set
    where the benchmark runs."""
    return load_service_settings({"ARM_ENDPOINT": arm.base_url, "ARM_CA_BUNDLE": str(arm.ca_bundle)})


async def _preflights(
    arm: ArmSimulator, settings: ServiceSettings, pools: Sequence[Pool]
) -> tuple[dict[str, Preflight], dict[str, dict[str, Any]]]:
    known = cluster_zones(pools)
    reader = azure_reader_factory(settings, credential=StaticTokenCredential, polling_interval_s=0.2)()
    runs: dict[str, Preflight] = {}
    figures: dict[str, dict[str, Any]] = {}
    try:
        for pool in pools:
            window = RequestWindow(arm)
            started = time.perf_counter()
            run = await run_preflight(pool, reader, pools=pools, settings=settings)
            elapsed_ms = (time.perf_counter() - started) * 1000
            runs[pool.name] = run
            figures[pool.name] = {
                **request_figures(window.entries(), known),
                "ms": round(elapsed_ms, 1),
                "failing": _failing(run.report),
                "warning": _warning(run.report),
            }
    finally:
        await reader.close()
    return runs, figures


async def _vms_gone(arm: ArmSimulator, within_s: float) -> tuple[int, float]:
    """How many VMs the simulator still holds, and after how long it held none (or gave up)."""
    started = time.perf_counter()
    while True:
        left = len(arm.vms())
        waited = time.perf_counter() - started
        if left == 0 or waited >= within_s:
            return left, waited
        await asyncio.sleep(0.05)


async def _probe(
    arm: ArmSimulator,
    settings: ServiceSettings,
    pool: Pool,
    run: Preflight,
    *,
    bench: PreflightSettings,
    say: Progress,
) -> tuple[ProbeOutcome, dict[str, Any]]:
    setup = ProbeSetup(
        probe_compute_factory(settings, credential=StaticTokenCredential, polling_interval_s=0.2),
        settings,
        timeout_s=bench.probe_timeout_s,
        poll_s=0.25,
        progress=lambda probed, what: say(f"probe {probed}: {what}"),
    )
    window = RequestWindow(arm)
    started = time.perf_counter()
    [outcome] = await probe_pools([pool], [run], setup)
    wall = time.perf_counter() - started
    requests = len(window.entries())
    left, waited = await _vms_gone(arm, bench.settle_s)
    settled = settle_custom_dns(run.report, outcome)
    passed = sum(v.status == "pass" for v in outcome.verdicts)
    figures = {
        "pool": pool.name,
        "ok": outcome.ok,
        "ending": outcome.ending,
        "wall_s": round(wall, 2),
        "wall_sim_s": round(wall * bench.time_scale, 1),
        "targets_passed": passed,
        "targets": len(outcome.verdicts),
        "failing_targets": [
            f"{v.target.target} {v.target.fqdn}: {v.summary}" for v in outcome.verdicts if v.status == "fail"
        ],
        "vm_deleted": outcome.deleted == "accepted",
        "deleted": outcome.deleted,
        "simulator_vms_after": left,
        "vm_gone_after_s": round(waited, 2),
        "arm_requests": requests,
        "failing_after_probe": _failing(settled),
        "message": outcome.message,
    }
    return outcome, figures


async def measure_scenario(
    name: str, settings: PreflightSettings, tls: LoopbackTls, progress: Progress
) -> dict[str, Any]:
    def say(what: str) -> None:
        progress(f"preflight: {name}: {what}")

    started = time.perf_counter()
    with simulated_arm(name, settings, tls) as arm:
        service = service_settings(arm)
        pools = load_pools(service, use_example=True, require_credentials=False)
        say(f"the preflight of {len(pools)} pools")
        runs, preflight = await _preflights(arm, service, pools)
        say(f"the probe of {PROBE_POOL}")
        pool = next(p for p in pools if p.name == PROBE_POOL)
        outcome, probe = await _probe(arm, service, pool, runs[PROBE_POOL], bench=settings, say=say)
    expectation = EXPECTATIONS[name]
    unmet = expectation.check(Observed({n: r.report for n, r in runs.items()}, outcome))
    if not probe["vm_deleted"]:
        unmet.append(f"the probe VM was not deleted ({probe['deleted']})")
    if probe["simulator_vms_after"]:
        unmet.append(f"the simulator still holds {probe['simulator_vms_after']} VM(s)")
    say("as expected" if not unmet else f"NOT as expected: {'; '.join(unmet)}")
    return {
        "expected": expectation.says,
        "as_expected": not unmet,
        "unmet": unmet,
        "preflight": preflight,
        "probe": probe,
        "wall_s": round(time.perf_counter() - started, 2),
    }


# --- the run --------------------------------------------------------------------------------------


def _request_summary(preflight: dict[str, dict[str, Any]]) -> dict[str, Any]:
    total = [p["arm_requests"] for p in preflight.values()]
    without = [p["arm_requests_without_private_path_reads"] for p in preflight.values()]
    return {
        "pools": len(total),
        "mean": round(float(statistics.mean(total)), 2),
        "max": max(total),
        "without_private_path_reads": {
            "mean": round(float(statistics.mean(without)), 2),
            "max": max(without),
        },
        "per_pool": {
            pool: {"all": p["arm_requests"], "without_private_path_reads": without_}
            for (pool, p), without_ in zip(preflight.items(), without, strict=True)
        },
    }


async def run_preflight_bench(settings: PreflightSettings, progress: Progress) -> dict[str, Any]:
    started = time.monotonic()
    tls = make_loopback_tls()
    progress(f"preflight: {len(settings.scenarios)} scenarios: {', '.join(settings.scenarios)}")
    results = {name: await measure_scenario(name, settings, tls, progress) for name in settings.scenarios}
    healthy = results.get("healthy")
    return {
        "scenarios": results,
        "as_expected": all(r["as_expected"] for r in results.values()),
        "healthy_preflight_arm_requests": (
            _request_summary(healthy["preflight"]) if healthy is not None else None
        ),
        "pools": list(next(iter(results.values()))["preflight"]) if results else [],
        "probe_pool": PROBE_POOL,
        "private_path_types": list(PRIVATE_PATH_TYPES),
        "private_path_note": (
            "private-path reads: requests for a resource of one of private_path_types (or a child of "
            "one), and reads of private DNS zones no pool names in its cluster settings (the zones the "
            "private endpoints lead to)"
        ),
        "time_scale": settings.time_scale,
        "time_note": TIME_NOTE,
        "wall_s": round(time.monotonic() - started, 1),
    }
