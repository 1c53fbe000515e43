"""The probe's pure parts: what a pool's probe tries, the cloud-config it boots with, how its console is
read, how each target is judged, and how the custom-dns warning becomes a verdict."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner_fleet.cli import DEFAULT_PROBE_TIMEOUT_S, PROBE_TIMEOUT_RANGE_S, build_parser
from runner_fleet.cloudinit import CUSTOM_DATA_LIMIT
from runner_fleet.ports.compute import VmInfo
from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.preflight.topology import ApiServer, Lookup, PoolTopology
from runner_fleet.probe.console import PREFIX, ProbeResult, read_console
from runner_fleet.probe.report import settle_custom_dns
from runner_fleet.probe.run import ProbeOutcome
from runner_fleet.probe.targets import ProbeTarget, probe_targets
from runner_fleet.probe.userdata import PROBE_JSON, PROBE_SCRIPT, render_probe_user_data
from runner_fleet.probe.verdict import judge
from runner_fleet.probe.vm import (
    DEFAULT_TIMEOUT_S,
    MAX_LIFE_S,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
    expired,
    is_probe,
    is_probe_name,
    probe_tags,
    probe_vm_name,
)
from runner_fleet.settings import load_service_settings
from tests.builders import make_pool

AKS_FQDN = "aks-prod-7f3a9c2e.privatelink.westeurope.azmk8s.io"
ZONE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-aks/providers/"
    "Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
)
CLUSTER_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-aks/providers/"
    "Microsoft.ContainerService/managedClusters/aks-prod"
)
POOL = make_pool(cluster={"api_server_fqdn": AKS_FQDN, "dns_zone_id": ZONE})
GITLAB_POOL = make_pool("gl-aks", ("deploy",), forge="gitlab", github=None, gitlab={"group_id": 7})
NOW = 1_800_000_000.0


def _topology(api: ApiServer | None) -> PoolTopology:
    subnet = POOL.azure.subnet_id
    return PoolTopology(
        POOL.name,
        Lookup(subnet),
        Lookup(subnet.rsplit("/subnets/", 1)[0]),
        cluster=Lookup(CLUSTER_ID, api) if api is not None else None,
    )


# --- targets -------------------------------------------------------------------------------------


def test_a_github_pool_probes_its_api_server_its_endpoints_and_githubs_essential_hosts() -> None:
    """API server and endpoint names must be private; github.com, api.github.com and the broker any."""
    settings = load_service_settings({})
    endpoints = ("acrprod.azurecr.io", "acrprod.westeurope.data.azurecr.io")
    targets = probe_targets(POOL, settings, endpoints=endpoints)
    assert [(t.target, t.fqdn, t.port, t.expect) for t in targets] == [
        ("api-server", AKS_FQDN, 443, "private"),
        ("endpoint", "acrprod.azurecr.io", 443, "private"),
        ("endpoint", "acrprod.westeurope.data.azurecr.io", 443, "private"),
        ("forge", "github.com", 443, "any"),
        ("forge", "api.github.com", 443, "any"),
        ("forge", "broker.actions.githubusercontent.com", 443, "any"),
    ]
    assert targets[-1].name == "*.actions.githubusercontent.com"


def test_the_api_server_comes_from_what_the_preflight_found_in_aks() -> None:
    """An FQDN AKS reports wins over the configured one, labelled with the cluster's name."""
    found = ApiServer(CLUSTER_ID, "aks-prod-1a2b3c.hcp.westeurope.azmk8s.io", source="aks")
    [api, *_] = probe_targets(POOL, load_service_settings({}), _topology(found))
    assert (api.name, api.fqdn, api.expect) == (
        "aks-prod",
        "aks-prod-1a2b3c.hcp.westeurope.azmk8s.io",
        "private",
    )


def test_a_gitlab_pool_probes_the_gitlab_host_and_no_api_server_without_a_cluster() -> None:
    """GitLab: the host of GITLAB_URL; a pool without a cluster has no api-server target."""
    settings = load_service_settings({"GITLAB_URL": "https://gitlab.example.com/"})
    targets = probe_targets(GITLAB_POOL, settings)
    assert [(t.target, t.fqdn) for t in targets] == [("forge", "gitlab.example.com")]


def test_a_name_is_probed_once() -> None:
    """An endpoint name listed twice, or equal to another target's, is tried once, first kind wins."""
    targets = probe_targets(
        POOL, load_service_settings({}), endpoints=(AKS_FQDN.upper(), "x.vault.azure.net")
    )
    assert [t.fqdn for t in targets][:2] == [AKS_FQDN, "x.vault.azure.net"]


# --- the VM's name, tags and expiry --------------------------------------------------------------


def test_probe_vm_names_are_short_valid_and_never_runner_names() -> None:
    """rf-<pool>-probe-<8 hex>: the naming module sees no runner in it."""
    from runner_fleet import naming

    name = probe_vm_name("aks-prod", "0a1b2c3d")
    assert name == "rf-aks-prod-probe-0a1b2c3d" and len(name) <= 64
    assert is_probe_name(name) and naming.pool_of(name) is None
    assert not is_probe_name(naming.runner_name("aks-prod", "github", "1"))
    with pytest.raises(ValueError, match="not a probe VM name"):
        probe_vm_name("aks-prod", "not-hex!")


def test_tags_say_kind_pool_and_when_the_vm_may_go() -> None:
    """managed-by, pool, forge, kind=probe, created-at and expires-at (timeout plus the delete grace)."""
    tags = probe_tags("aks-prod", "github", "rf-aks-prod-probe-0a1b2c3d", NOW, 600)
    assert tags["managed-by"] == "runner-fleet" and tags["kind"] == "probe" and tags["pool"] == "aks-prod"
    vm = VmInfo("rf-aks-prod-probe-0a1b2c3d", "rg-runners", "Standard_D2ads_v5", tags, "Succeeded", "running")
    assert is_probe(vm)
    assert not expired(vm, NOW + 600)
    assert expired(vm, NOW + 600 + 300)


def test_no_tag_keeps_a_probe_vm_past_its_maximum_life() -> None:
    """A far-off expires-at is capped at the maximum life; a VM with no time at all is expired."""
    tags = probe_tags("aks-prod", "github", "rf-aks-prod-probe-0a1b2c3d", NOW, 600)
    tags["expires-at"] = "2999-01-01T00:00:00+00:00"
    vm = VmInfo("rf-aks-prod-probe-0a1b2c3d", "rg-runners", "s", tags, "Succeeded")
    assert not expired(vm, NOW + MAX_LIFE_S - 1) and expired(vm, NOW + MAX_LIFE_S)
    bare = VmInfo("rf-aks-prod-probe-0a1b2c3d", "rg-runners", "s", {"kind": "probe"}, "Succeeded")
    assert expired(bare, NOW)


def test_the_command_line_timeout_matches_the_probe_limits() -> None:
    """--probe-timeout defaults to 600 s and accepts 60..3600 s; anything else is bad usage."""
    assert (DEFAULT_PROBE_TIMEOUT_S, PROBE_TIMEOUT_RANGE_S) == (
        DEFAULT_TIMEOUT_S,
        (MIN_TIMEOUT_S, MAX_TIMEOUT_S),
    )
    parser = build_parser(plugins=[])
    args = parser.parse_args(["doctor", "--probe"])
    assert args.probe and args.probe_timeout == DEFAULT_TIMEOUT_S
    assert parser.parse_args(["doctor", "--probe", "--probe-timeout", "90"]).probe_timeout == 90
    for bad in ("59", "3601", "soon"):
        with pytest.raises(SystemExit):
            parser.parse_args(["doctor", "--probe", "--probe-timeout", bad])


# --- user data -----------------------------------------------------------------------------------


def _targets() -> tuple[ProbeTarget, ...]:
    return probe_targets(POOL, load_service_settings({}), endpoints=("acrprod.azurecr.io",))


def test_user_data_writes_probe_json_and_the_script_and_runs_it() -> None:
    """probe.json (the contract's shape) and probe.sh in write_files; runcmd runs the script; no secret."""
    rendered = render_probe_user_data("rf-aks-prod-probe-0a1b2c3d", _targets())
    assert rendered.startswith("#cloud-config\n") and len(rendered.encode()) < CUSTOM_DATA_LIMIT
    document = yaml.safe_load(rendered)
    files = {entry["path"]: entry for entry in document["write_files"]}
    assert set(files) == {PROBE_JSON, PROBE_SCRIPT}
    conf = json.loads(files[PROBE_JSON]["content"])
    assert conf["probe"] == "rf-aks-prod-probe-0a1b2c3d"
    assert conf["targets"][0] == {
        "target": "api-server",
        "name": "api-server",
        "fqdn": AKS_FQDN,
        "port": 443,
        "expect": "private",
    }
    script = Path(__file__).resolve().parents[2] / "runner_images" / "common" / "probe.sh"
    assert files[PROBE_SCRIPT]["content"] == script.read_text()
    assert document["runcmd"] == [["/bin/bash", PROBE_SCRIPT]]
    assert "runner.secret" not in rendered and "runner.json" not in rendered


@pytest.mark.skipif(shutil.which("cloud-init") is None, reason="cloud-init is not installed")
def test_user_data_passes_cloud_inits_own_schema_check(tmp_path: Path) -> None:
    """`cloud-init schema` accepts the probe's cloud-config, as scripts/validate does the runners'."""
    path = tmp_path / "probe.yaml"
    path.write_text(render_probe_user_data("rf-aks-prod-probe-0a1b2c3d", _targets()))
    cloud_init = shutil.which("cloud-init")
    assert cloud_init is not None
    done = subprocess.run(
        [cloud_init, "schema", "--config-file", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- the console ---------------------------------------------------------------------------------


def _line(kind: str, **fields: Any) -> str:
    return f"{PREFIX}{kind} {json.dumps(fields)}"


def _result(fqdn: str, **fields: Any) -> dict[str, Any]:
    found = {
        "probe": "p1",
        "target": "forge",
        "name": fqdn,
        "fqdn": fqdn,
        "port": 443,
        "expect": "any",
        "address": "140.82.121.4",
        "scope": "public",
        "resolve_error": None,
        "connect_ms": 12.5,
        "connect_error": None,
        "tls": "ok",
        "tls_detail": "TLSv1.3, certificate verified",
    }
    return found | fields


def test_console_lines_are_found_among_everything_else_the_vm_printed() -> None:
    """Timestamps and cloud-init prefixes before a line are fine; other probes, torn lines and noise
    are skipped; `done` ends it."""
    text = "\n".join(
        [
            "[    0.000000] Linux version 6.8.0-1015-azure",
            "2025-01-01T10:00:00Z " + _line("start", probe="p1", targets=2),
            "[   12.1] cloud-init[981]: " + _line("result", **_result("github.com")),
            _line("result", **_result("github.com", probe="someone-else", address="6.6.6.6")),
            PREFIX + 'result {"probe": "p1", "fqdn": "api.gith',  # cut by the console
            _line("result", **_result("api.github.com", tls="failed", tls_detail="certificate\x1b[31m bad")),
            _line("done", probe="p1") + "\r",
            # cloud-init copies the script's stdout to the console as well: said twice, counted once
            "[   13.0] cloud-init[981]: " + _line("result", **_result("github.com")),
        ]
    )
    reading = read_console(text, "p1")
    assert reading.started == 2 and reading.done
    assert [r.fqdn for r in reading.results] == ["github.com", "api.github.com"]
    assert reading.results[0].address == "140.82.121.4" and reading.results[0].connect_ms == 12.5
    assert reading.results[1].tls_detail == "certificate [31m bad"  # kept printable
    assert not read_console(text, "p2").done


def test_malformed_fields_are_dropped_not_trusted() -> None:
    """A result without fqdn or port is skipped; wrong types become None."""
    text = "\n".join(
        [
            _line("result", probe="p1", fqdn="x.example", port="443"),
            _line("result", probe="p1", fqdn="y.example", port=443, scope="galactic", connect_ms="fast"),
        ]
    )
    [only] = read_console(text, "p1").results
    assert (only.fqdn, only.scope, only.connect_ms) == ("y.example", None, None)
    assert read_console("", "p1") == read_console("nothing here", "p1")


# --- verdicts ------------------------------------------------------------------------------------

API = ProbeTarget("api-server", "api-server", AKS_FQDN, 443, "private")


def _probe_result(**fields: Any) -> ProbeResult:
    base: dict[str, Any] = {
        "target": "api-server",
        "name": "api-server",
        "fqdn": AKS_FQDN,
        "port": 443,
        "expect": "private",
        "address": "10.10.0.4",
        "scope": "private",
        "resolve_error": None,
        "connect_ms": 3.0,
        "connect_error": None,
        "tls": "ok",
        "tls_detail": "TLSv1.3, certificate not verified (cluster CA)",
    }
    return ProbeResult(**(base | fields))


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({}, "pass", f"{AKS_FQDN} -> 10.10.0.4 (private), TCP in 3 ms, TLS ok"),
        (
            {
                "address": None,
                "scope": None,
                "resolve_error": "does not resolve (no such name, or no A record)",
            },
            "fail",
            f"{AKS_FQDN} does not resolve (no such name",
        ),
        (
            {"address": "20.61.45.12", "scope": "public"},
            "fail",
            "resolves to 20.61.45.12 (public), not a private",
        ),
        (
            {"connect_ms": None, "connect_error": "timed out", "tls": None},
            "fail",
            "resolves to 10.10.0.4 (private) but TCP 443 fails: timed out",
        ),
        ({"tls": "failed", "tls_detail": "EOF occurred"}, "fail", "TLS handshake failed: EOF occurred"),
    ],
    ids=["pass", "unresolved", "public", "no-connect", "no-tls"],
)
def test_a_target_passes_only_resolved_private_connected_and_tls_ok(
    fields: dict[str, Any], status: str, says: str
) -> None:
    """The first thing that went wrong, in the order a runner meets it, is the message."""
    verdict = judge(API, _probe_result(**fields), missing="-")
    assert verdict.status == status and says in verdict.message


def test_a_public_answer_passes_a_target_that_may_be_public() -> None:
    """Forge hosts expect any address; a missing result fails with the reason given."""
    forge = ProbeTarget("forge", "github.com", "github.com", 443, "any")
    assert judge(forge, _probe_result(address="140.82.121.4", scope="public"), missing="-").status == "pass"
    missing = judge(forge, None, missing="no result before the probe timed out")
    assert (missing.status, missing.message) == ("fail", "no result before the probe timed out")


# --- custom-dns ----------------------------------------------------------------------------------

WARNING = CheckResult(
    "custom-dns",
    "warn",
    "/subscriptions/x/vnet-runners",
    "vnet-runners uses custom DNS servers 10.20.255.4: linked private zones resolve only if they forward "
    "to 168.63.129.16",
    "forward privatelink.westeurope.azmk8s.io to 168.63.129.16 from those servers",
)


VM = "rf-aks-prod-probe-0a1b2c3d"


def _outcome(*results: ProbeResult | None) -> ProbeOutcome:
    targets = [API, ProbeTarget("forge", "github.com", "github.com", 443, "any")]
    verdicts = tuple(judge(t, r, missing="-") for t, r in zip(targets, results, strict=False))
    return ProbeOutcome("aks-prod", "rf-aks-prod-probe-0a1b2c3d", "s", "done", "", verdicts, "accepted")


def test_custom_dns_passes_when_the_api_server_resolved_privately_from_the_vm() -> None:
    """The warning becomes a pass that says what the VM resolved."""
    report = PreflightReport("aks-prod", (WARNING,))
    [check] = settle_custom_dns(report, _outcome(_probe_result())).checks
    assert check.status == "pass" and f"{AKS_FQDN} -> 10.10.0.4" in check.message


def test_custom_dns_fails_naming_the_name_that_did_not_resolve() -> None:
    """The warning becomes a fail naming the unresolved name, with the original fix."""
    report = PreflightReport("aks-prod", (WARNING,), endpoints=("acrprod.azurecr.io",))
    unresolved = _probe_result(address=None, scope=None, resolve_error="does not resolve")
    settled = settle_custom_dns(report, _outcome(unresolved))
    [check] = settled.checks
    assert check.status == "fail"
    assert check.message == f"{AKS_FQDN} did not resolve from probe VM {VM}: {WARNING.message}"
    assert check.fix == WARNING.fix and not settled.ok and settled.endpoints == report.endpoints


def test_custom_dns_fails_on_a_public_answer_too() -> None:
    """A private name answered with a public address: the custom servers do not use the private zone."""
    public = _probe_result(address="20.61.45.12", scope="public")
    [check] = settle_custom_dns(PreflightReport("aks-prod", (WARNING,)), _outcome(public)).checks
    assert check.status == "fail" and check.message.startswith(
        f"{AKS_FQDN} resolved to 20.61.45.12, a public"
    )


def test_custom_dns_is_left_alone_without_a_warning_or_an_answer() -> None:
    """No warning (Azure DNS), or no private name heard from the VM: the report is unchanged."""
    passing = PreflightReport("aks-prod", (CheckResult("custom-dns", "pass", "r", "uses Azure DNS"),))
    assert settle_custom_dns(passing, _outcome(_probe_result(address=None, scope=None))) == passing
    warned = PreflightReport("aks-prod", (WARNING,))
    assert settle_custom_dns(warned, _outcome(None)) == warned
