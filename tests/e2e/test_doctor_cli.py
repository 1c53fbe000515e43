"""`runner-fleet doctor`: exit codes, stable JSON, a table that fits 80 columns when piped, and
`--fix` creating exactly the missing zone link (and nothing for what it must only explain).
`--probe` has its own file: test_doctor_probe.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from runner_fleet.cli import main
from runner_fleet.cli.doctor import diagnose
from runner_fleet.runtime import forge_access
from runner_fleet.settings import load_service_settings
from simulator.arm.scenarios import scenario_names
from simulator.arm.topology import AKS_ZONE, AKS_ZONE_ID, RUNNERS_VNET
from simulator.clock import SimClock
from simulator.github import GitHubSimulator
from simulator.server import BackgroundLoop
from simulator.stack import DEMO_ORG, demo_github_config
from tests.builders import DEFAULT_SETTINGS, make_pool
from tests.e2e.preflight_sim import TIME_SCALE, example_pools, reader_for, simulated_arm

pytestmark = pytest.mark.e2e

CHECK_KEYS = ["name", "status", "resource", "message", "fix"]


def doctor_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("scenario", "code"),
    [
        ("healthy", 0),
        ("custom-dns", 0),
        ("open-vnet", 0),
        ("missing-dns-link", 1),
        ("demo", 1),
        ("subnet-full", 1),
    ],
)
def test_exit_code_is_1_only_when_a_check_fails(
    capsys: pytest.CaptureFixture[str], scenario: str, code: int
) -> None:
    """Warnings (custom DNS, a runner NSG open to the VNet) exit 0; any failing check exits 1."""
    assert main(["doctor", "--simulate", scenario]) == code
    capsys.readouterr()


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown scenario, an unknown pool, or no pools configured at all: exit 2 with a reason."""
    assert main(["doctor", "--simulate", "no-such-thing"]) == 2
    assert "unknown scenario 'no-such-thing'" in capsys.readouterr().err
    assert main(["doctor", "--simulate", "healthy", "--pool", "nope"]) == 2
    assert "no pool named 'nope'" in capsys.readouterr().err
    for name in ("RUNNER_POOLS", "RUNNER_POOLS_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["doctor"]) == 2
    assert "no pools configured" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--bogus"])
    assert exited.value.code == 2


def test_simulate_list_names_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """`--simulate list` names all scenarios (and says what each breaks) in text and JSON."""
    assert main(["doctor", "--simulate", "list"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in scenario_names())
    code, listed = doctor_json(capsys, "--simulate", "list")
    assert code == 0 and [s["name"] for s in listed["scenarios"]] == scenario_names()


def test_json_is_stable_in_keys_order_and_content(capsys: pytest.CaptureFixture[str]) -> None:
    """The document's keys come in the documented order, and two runs print the same thing."""
    code, first = doctor_json(capsys, "--simulate", "demo")
    _, second = doctor_json(capsys, "--simulate", "demo")
    assert code == 1 and first == second
    assert list(first) == ["schema", "ok", "summary", "pools", "fixes", "probes"]
    assert first["schema"] == "runner-fleet/doctor/v1" and first["ok"] is False and first["fixes"] == []
    assert first["probes"] == []  # always there; filled only with --probe
    assert first["summary"] == {"pools": 4, "pass": 55, "warn": 0, "fail": 1}
    pools = first["pools"]
    assert isinstance(pools, list)
    assert [(p["pool"], p["ok"], p["status"]) for p in pools] == [
        ("aks-prod", True, "pass"),
        ("aks-dev", True, "pass"),
        ("gl-aks", True, "pass"),
        ("aks-ops", False, "fail"),
    ]
    assert all(list(p) == ["pool", "ok", "status", "checks"] for p in pools)
    assert all(list(c) == CHECK_KEYS for p in pools for c in p["checks"])
    [failing] = [c for c in pools[3]["checks"] if c["status"] == "fail"]
    assert failing == {
        "name": "dns-link",
        "status": "fail",
        "resource": (
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-aks/providers/"
            "Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
        ),
        "message": (
            "privatelink.westeurope.azmk8s.io has no virtual network link to vnet-ops: its names do not "
            "resolve on runner VMs (peering does not carry DNS)"
        ),
        "fix": f"link {AKS_ZONE} to vnet-ops (runner-fleet doctor --fix creates the link)",
    }


def test_pool_option_checks_one_pool(capsys: pytest.CaptureFixture[str]) -> None:
    """`--pool` narrows the run to that pool; its verdict alone decides the exit code."""
    code, document = doctor_json(capsys, "--simulate", "demo", "--pool", "aks-prod")
    assert code == 0 and [p["pool"] for p in document["pools"]] == ["aks-prod"]


def test_the_table_fits_80_columns_when_piped() -> None:
    """Not a terminal, 80 columns: no line is wider, no colour codes, the failure and its fix are there."""
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("RUNNER_POOLS", None)
    done = subprocess.run(
        [sys.executable, "-m", "runner_fleet.cli", "doctor", "--simulate", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "\x1b[" not in done.stdout
    text = "\n".join(line.rstrip() for line in lines)
    assert "pool aks-ops: FAILS  (13 pass, 0 warn, 1 fail)" in text
    assert "FAIL  dns-link" in text and "fix: link privatelink.westeurope.azmk8s.io to vnet-ops" in text
    assert "1 of 4 pool(s) fail the preflight (aks-ops)" in text


async def test_fix_creates_exactly_the_missing_link_and_a_second_run_passes() -> None:
    """`--fix` on missing-dns-link: one link from the zone to vnet-runners, reported; then all pass."""
    pools = example_pools()
    with simulated_arm("missing-dns-link") as arm:
        links_before = {
            r["id"] for r in arm.resources("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
        }
        reader = reader_for(arm)
        try:
            fixed = await diagnose(pools, reader, fix=True, settings=DEFAULT_SETTINGS)
            again = await diagnose(pools, reader, settings=DEFAULT_SETTINGS)
        finally:
            await reader.close()
        links_after = {
            r["id"] for r in arm.resources("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
        }
    [new_link] = links_after - links_before
    assert links_before < links_after
    assert new_link.endswith(f"/privateDnsZones/{AKS_ZONE}/virtualNetworkLinks/link-vnet-runners")
    assert [f.document() for f in fixed.fixes] == [
        {
            "action": "create-dns-link",
            "outcome": "created",
            "zone": AKS_ZONE_ID,
            "vnet": RUNNERS_VNET,
            "link": "link-vnet-runners",
            "pools": "aks-prod, gl-aks",
            "detail": "Completed, Succeeded",
        }
    ]
    assert fixed.ok and again.ok and again.fixes == []


def test_fix_says_what_it_created_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The text output starts with the link it created; the checks after the fix pass (exit 0)."""
    assert main(["doctor", "--simulate", "demo", "--fix"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    created = f"fixed: created link 'link-vnet-ops' from {AKS_ZONE} to vnet-ops (Completed, Succeeded)"
    assert out.startswith("simulated Azure, scenario demo") and created in out
    assert "all 4 pool(s) pass the preflight" in out


def test_fix_only_explains_what_is_not_a_missing_link(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing peering is explained, never changed: no fixes, still exit 1."""
    code, document = doctor_json(capsys, "--simulate", "no-peering", "--fix")
    assert code == 1 and document["fixes"] == []


def test_open_vnet_names_the_default_rules_and_the_rules_to_add(capsys: pytest.CaptureFixture[str]) -> None:
    """`--simulate open-vnet`: every pool on nsg-runners warns nsg-isolation, naming the rule and the fix."""
    code, document = doctor_json(capsys, "--simulate", "open-vnet")
    warned = {p["pool"]: c for p in document["pools"] for c in p["checks"] if c["name"] == "nsg-isolation"}
    assert code == 0 and {name: c["status"] for name, c in warned.items()} == dict.fromkeys(
        ("aks-prod", "aks-dev", "gl-aks", "aks-ops"), "warn"
    )
    assert "rule 'AllowVnetOutBound' (priority 65000)" in warned["aks-dev"]["message"]
    assert warned["aks-dev"]["fix"].startswith(
        "add an outbound rule denying VirtualNetwork at a priority below 65000, after one allowing TCP 443 "
        "to 10.10.0.4"
    )


async def test_doctor_checks_each_github_pools_runner_group() -> None:
    """github-runner-group passes the example pools' groups, fails a group wider than its pool with a fix,
    and is a warning saying what to set where no GitHub credentials are."""
    github_loop = BackgroundLoop("doctor-github")
    github = GitHubSimulator(github_loop, clock=SimClock(TIME_SCALE), config=demo_github_config())
    github.start()
    settings = load_service_settings(
        {
            "GITHUB_API_URL": github.base_url,
            "GITHUB_APP_ID": str(github.app_id),
            "GITHUB_APP_PRIVATE_KEY": github.app_private_key_pem,
        }
    )
    widened = make_pool("aks-wide", github={"org": DEMO_ORG, "repositories": ["platform-deploy"]})
    pools = (*example_pools(), widened)
    try:
        with simulated_arm("healthy") as arm:
            reader = reader_for(arm)
            try:
                access = forge_access(settings, {"github", "gitlab"})
                diagnosis = await diagnose(
                    pools, reader, access=access, configured=pools, settings=DEFAULT_SETTINGS
                )
                unchecked = await diagnose(
                    pools[:1], reader, access={}, configured=pools, settings=DEFAULT_SETTINGS
                )
            finally:
                await reader.close()
                for checker in access.values():
                    await checker.close()
    finally:
        github.stop()
        github_loop.close()
    checks = {
        report.pool: next((c for c in report.checks if c.name == "github-runner-group"), None)
        for report in diagnosis.reports
    }
    assert {name: check.status for name, check in checks.items() if check is not None} == {
        "aks-prod": "pass",
        "aks-dev": "pass",
        "aks-ops": "pass",
        "aks-wide": "fail",
    }
    wide = checks["aks-wide"]
    assert wide is not None and "selected repositories: example-org/platform-deploy" in wide.fix
    assert checks["gl-aks"] is None
    [warning] = [c for c in unchecked.reports[0].checks if c.name == "github-runner-group"]
    assert warning.status == "warn" and "GITHUB_APP_ID" in warning.fix
