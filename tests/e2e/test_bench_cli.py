"""The benchmark scripts' interface, run as a user runs them: `python bench/<name>.py ... --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str, tmp_path: Path) -> tuple[int, dict[str, object], str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--json", "--log-file", str(tmp_path / "log")],
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
        cwd=tmp_path,  # the script must find its package from anywhere
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"stdout must hold one JSON object and nothing else: {done.stdout!r}"
    return done.returncode, json.loads(lines[0]), done.stderr


def test_a_small_burst_prints_its_figures_as_one_json_object(tmp_path: Path) -> None:
    """`burst.py --jobs N --json` prints the figures the issue names; progress goes to stderr."""
    code, result, stderr = _run(
        "burst.py", "--jobs", "10", "--time-scale", "40", "--settle-seconds", "20", tmp_path=tmp_path
    )
    expected = {
        "accepted_all_s",
        "throttle_min_s",
        "webhook_p50_ms",
        "webhook_p99_ms",
        "lost",
        "duplicate_vms",
        "time_scale",
    }
    assert expected <= set(result)
    assert result["jobs"] == 10 and result["time_scale"] == 40.0
    assert (result["lost"], result["duplicate_vms"]) == (0, 0) and code == 0
    assert "burst: 10 jobs" in stderr
    assert (tmp_path / "log").stat().st_size > 0


def test_soak_help_lists_its_fault_options(tmp_path: Path) -> None:
    """`soak.py --help` names the run options both scripts share and the soak's own fault knobs."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    for option in ("--jobs", "--time-scale", "--settle-seconds", "--instances", "--webhook-drop", "--kills"):
        assert option in done.stdout


def test_a_short_api_budget_run_prints_its_request_figures_as_one_json_object(tmp_path: Path) -> None:
    """`api_budget.py --json` prints one JSON object with the request figures the simulator counted."""
    code, result, stderr = _run(
        "api_budget.py",
        *("--repositories", "10", "--jobs-per-hour", "400", "--simulated-hours", "0.05"),
        *("--time-scale", "60", "--settle-seconds", "15"),
        tmp_path=tmp_path,
    )
    expected = {
        "requests_per_hour",
        "by_kind",
        "budget_per_hour",
        "min_remaining",
        "registrations_refused",
        "lost",
        "time_scale",
        "simulated_hours",
        "wall_s",
    }
    assert expected <= set(result)
    assert (result["time_scale"], result["simulated_hours"], result["jobs"]) == (60.0, 0.05, 20)
    assert result["budget_per_hour"] == 5000  # ten repositories: GitHub's base installation limit
    # Which kinds fall inside the three-second load window depends on the machine's speed (on a
    # busy one the registrations come after it); that every job ran says they were all made.
    by_kind = result["by_kind"]
    assert isinstance(by_kind, dict) and by_kind and all(isinstance(v, int | float) for v in by_kind.values())
    assert result["ran"] == result["jobs"]
    # Each kind's figure is rounded on its own: their sum is the total within one per kind.
    total = result["requests_per_hour"]
    assert isinstance(total, int) and abs(total - sum(by_kind.values())) <= len(by_kind)
    assert (result["lost"], result["registrations_refused"]) == (0, 0) and code == 0
    assert "api-budget: 20 jobs" in stderr


@pytest.mark.parametrize("backend", ["memory", "azurite"])
def test_a_small_state_growth_run_prints_its_read_figures_as_one_json_object(
    tmp_path: Path, backend: str
) -> None:
    """`state_growth.py --json`: a round reads as many job rows with 200 finished jobs as with 10."""
    code, result, stderr = _run(
        "state_growth.py",
        *("--finished", "10,200", "--repeat", "1"),
        *(["--azurite"] if backend == "azurite" else []),
        tmp_path=tmp_path,
    )
    assert (code, result["backend"], result["met_target"]) == (0, backend, True)
    assert result["finished_jobs"] == [10, 200]
    results = result["results"]
    assert isinstance(results, list) and [r["finished_jobs"] for r in results] == [10, 200]
    few, many = results
    assert few["before_purge"]["job_rows_read"] == many["before_purge"]["job_rows_read"]
    assert many["before_purge_full_partition"]["job_rows_read"] > 200
    assert many["housekeeping"]["job_records_removed"] == 200
    assert many["after_purge"]["job_rows_in_table"] == few["after_purge"]["job_rows_in_table"] == 35
    assert "state-growth: 200 finished jobs: housekeeping" in stderr


def test_a_small_soak_on_azurite_with_two_instances_loses_duplicates_and_leaks_nothing(
    tmp_path: Path,
) -> None:
    """`soak.py --storage azurite --instances 2`: two host instances, each with its own Storage
    adapters on one private Azurite, share the queues and the state table under the soak's faults."""
    code, result, stderr = _run(
        "soak.py",
        *("--jobs", "12", "--rate", "6", "--time-scale", "40"),
        *("--max-seconds", "110", "--settle-seconds", "30", "--stall-seconds", "40"),
        *("--storage", "azurite", "--instances", "2"),
        tmp_path=tmp_path,
    )
    assert (result["storage"], result["instances"]) == ("azurite", 2)
    assert (result["jobs"], result["ran"]) == (12, 12)
    assert (result["lost"], result["failed"], result["duplicate_vms"]) == (0, 0, 0)
    assert (result["leaked_vms"], result["leaked_runners"]) == (0, 0)
    per_instance = result["invocations_per_instance"]
    assert isinstance(per_instance, list) and len(per_instance) == 2
    assert code == 0
    assert "soak: 12 jobs" in stderr


def test_the_preflight_bench_prints_requests_and_probe_verdicts_as_one_json_object(tmp_path: Path) -> None:
    """`preflight.py --scenarios healthy,no-egress --json`: each example pool's preflight requests, the
    probe of aks-prod, and each scenario's verdict as expected: exit 0."""
    code, result, stderr = _run("preflight.py", "--scenarios", "healthy,no-egress", tmp_path=tmp_path)
    expected = {
        "scenarios",
        "as_expected",
        "healthy_preflight_arm_requests",
        "pools",
        "probe_pool",
        "private_path_types",
        "time_scale",
        "wall_s",
        "log_file",
    }
    assert expected <= set(result)
    scenarios = result["scenarios"]
    assert isinstance(scenarios, dict) and list(scenarios) == ["healthy", "no-egress"]
    pools = result["pools"]
    assert isinstance(pools, list) and "aks-prod" in pools and result["probe_pool"] == "aks-prod"
    for found in scenarios.values():
        assert {"expected", "as_expected", "unmet", "preflight", "probe", "wall_s"} <= set(found)
        assert list(found["preflight"]) == pools
        for pool in found["preflight"].values():
            figures = {"arm_requests", "arm_requests_without_private_path_reads", "by_type", "ms"}
            assert figures | {"failing", "warning"} <= set(pool)
            assert pool["arm_requests"] == sum(pool["by_type"].values()) > 0
        probe = found["probe"]
        assert {"wall_s", "wall_sim_s", "targets_passed", "targets", "vm_deleted"} <= set(probe)
        assert probe["vm_deleted"] is True and probe["simulator_vms_after"] == 0
        assert found["as_expected"] is True, found["unmet"]
    assert scenarios["no-egress"]["preflight"]["aks-prod"]["failing"] == ["egress"]
    healthy = result["healthy_preflight_arm_requests"]
    assert isinstance(healthy, dict)
    assert healthy["without_private_path_reads"]["max"] < healthy["max"]
    assert result["as_expected"] is True and code == 0
    assert "preflight: no-egress: as expected" in stderr
    assert (tmp_path / "log").stat().st_size > 0
