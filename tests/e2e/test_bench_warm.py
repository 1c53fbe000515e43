"""`bench/warm.py --quick`: the warm-runner benchmark's JSON, run as a user runs it (shape and
invariants only; its timings are figures, never asserted)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {
    "p50_s",
    "p90_s",
    "max_s",
    "idle_vm_s_per_job",
    "vms_per_job",
    "lost",
    "duplicate_vms",
    "warm_hit_p50_s",
    "vms_at_end",
    "leaked_vms",
    "leaked_runners",
}


def test_a_quick_day_in_off_and_static_mode_prints_its_figures_as_one_json_object(tmp_path: Path) -> None:
    plot = tmp_path / "warm.png"
    with_plot = importlib.util.find_spec("matplotlib") is not None
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "warm.py"),
            *("--quick", "--modes", "off,static", "--seed", "5", "--json"),
            *("--log-file", str(tmp_path / "log")),
            *(("--plot", str(plot)) if with_plot else ()),
        ],
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
        cwd=tmp_path,  # the script must find its package from anywhere
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, (
        f"stdout must hold one JSON object and nothing else: {done.stdout!r} {done.stderr}"
    )
    result: dict[str, Any] = json.loads(lines[0])
    assert {"trace", "modes", "warm_hit_p50_s"} <= set(result)

    trace = result["trace"]
    assert trace["time_scale"] == 60.0 and trace["seed"] == 5
    assert trace["jobs"] == sum(trace["jobs_by_forge"].values()) > 0
    assert trace["simulated_span_s"] == 24 * trace["trace_hour_sim_s"]

    modes = result["modes"]
    assert list(modes) == ["off", "static"], done.stderr
    for name, mode in modes.items():
        assert "error" not in mode, (name, mode)
        assert set(mode) >= FIGURES and set(mode["by_forge"]) == {"github", "gitlab"}
        assert (mode["jobs"], mode["ran"]) == (trace["jobs"], trace["jobs"])
        assert (mode["lost"], mode["duplicate_vms"]) == (0, 0)
        assert (mode["leaked_vms"], mode["leaked_runners"]) == (0, 0)
        for forge, figures in mode["by_forge"].items():
            assert set(figures) >= FIGURES
            assert figures["jobs"] == trace["jobs_by_forge"][forge] and figures["lost"] == 0
        assert sum(f["vms_created"] for f in mode["by_forge"].values()) == mode["vms_created"]
        assert mode["p50_s"] <= mode["p90_s"] <= mode["max_s"]
        assert mode["idle_vm_s_per_job"] >= 0 and mode["vms_per_job"] >= 1  # every job had a VM made for it
        assert mode["warm_hits"] <= mode["ran"]
    off = modes["off"]
    # Nothing is kept warm: no job finds a runner waiting, and nothing is left at the end.
    assert (off["warm_hits"], off["warm_hit_p50_s"], off["vms_at_end"]) == (0, None, 0)
    assert modes["static"]["warm_setting"] == 3
    assert done.returncode == 0, done.stderr
    assert "warm: " in done.stderr
    if with_plot:
        assert result["plot"] == str(plot) and plot.stat().st_size > 0
