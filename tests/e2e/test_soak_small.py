"""The soak, small: forty jobs on both forges under every kind of fault, in this process.

See bench/soak_run.py for what is injected and bench/measure.py for how each figure is counted.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.soak_run import SoakSettings, run_soak
from bench.stack import ReconcileCadence
from runner_fleet import logs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

SMALL = SoakSettings(
    jobs=40,
    time_scale=40.0,
    per_second=10.0,
    max_seconds=40.0,
    settle_s=10.0,
    stall_s=20.0,
    arm_fault_rate=0.02,
    never_boot=0.0,
    never_boot_count=2,
    webhook_drop=0.05,
    webhook_duplicate=0.05,
    webhook_reorder=0.05,
    kills=2,
    max_runners=40,
    small_pool_max=6,
    cadence=ReconcileCadence(every_s=2.0, clock_ahead_s=50.0, webhook_grace_s=5.0),
    seed=3,
)


@pytest.fixture(scope="module")
def service_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("soak") / "service.log"
    with path.open("w", encoding="utf-8") as stream:
        logs.configure("json", stream=stream)
        yield path
    logs.configure("json", stream=sys.stderr)


@pytest.fixture(scope="module")
def soak(service_log: Path) -> dict[str, Any]:
    """One run shared by the tests below (it takes most of a minute); its figures are kept by the log."""
    result = asyncio.run(run_soak(SMALL))
    (service_log.parent / "soak.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def _explain(result: dict[str, Any], log: Path) -> str:
    keys = ("lost_jobs", "duplicates", "leaked_vm_names", "leaked_runner_names", "kills", "reconciler")
    return json.dumps({k: result[k] for k in keys}, indent=1) + f"\nservice log: {log}"


def test_the_small_soak_loses_nothing_and_leaks_nothing(soak: dict[str, Any], service_log: Path) -> None:
    """Under injected faults every job runs, no job gets a second VM, and no VM or registration is left."""
    why = _explain(soak, service_log)
    assert soak["jobs"] == 40
    assert soak["lost"] == 0, why
    assert soak["duplicate_vms"] == 0, why
    assert soak["leaked_vms"] == 0, why
    assert soak["leaked_runners"] == 0, why


def test_the_small_soak_injects_what_it_claims(soak: dict[str, Any]) -> None:
    """Both kill points were hit, VMs never booted, and webhooks were dropped and duplicated."""
    assert sorted(kill["point"] for kill in soak["kills"]) == ["after-register", "after-vm-create"]
    assert soak["never_booted_vms"] == 2
    # Faults are drawn at random as deliveries happen, so count them over both forges together.
    stats = [soak["forge_stats"][forge] for forge in ("github", "gitlab")]
    assert sum(s["webhooks_dropped"] for s in stats) > 0
    assert sum(s["webhooks_duplicated"] for s in stats) > 0
