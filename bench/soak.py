"""`python bench/soak.py --jobs N --json`: the fault-injection soak (see soak_run and README.md).

Exit 0 when no job was lost or failed, no VM duplicated and nothing leaked; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.soak_run import SoakSettings

HEADLINE = [
    "jobs",
    "ran",
    "lost",
    "failed",
    "duplicate_vms",
    "leaked_vms",
    "leaked_runners",
    "p95_queue_to_running_s",
    "max_queue_to_running_s",
    "idle_vm_seconds",
    "wall_s",
    "time_scale",
]


def _clean(result: dict[str, Any]) -> bool:
    return not (
        result["lost"]
        or result["failed"]
        or result["duplicate_vms"]
        or result["leaked_vms"]
        or result["leaked_runners"]
    )


def _options(parser: argparse.ArgumentParser, d: SoakSettings) -> None:
    parser.add_argument(
        "--rate", dest="per_second", type=float, default=d.per_second, help="jobs queued per real second"
    )
    parser.add_argument("--arm-fault-rate", type=float, default=d.arm_fault_rate)
    parser.add_argument("--never-boot", type=float, default=d.never_boot)
    parser.add_argument("--webhook-drop", type=float, default=d.webhook_drop)
    parser.add_argument("--webhook-duplicate", type=float, default=d.webhook_duplicate)
    parser.add_argument("--webhook-reorder", type=float, default=d.webhook_reorder)
    parser.add_argument(
        "--kills", type=int, default=d.kills, help="workers killed (default max(2, jobs/100))"
    )
    parser.add_argument("--max-runners", type=int, default=d.max_runners, help="per pool, but gl-web")
    parser.add_argument("--small-pool-max", type=int, default=d.small_pool_max, help="gl-web's max")


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.cli import run_script
    from bench.soak_run import SoakSettings, run_soak

    sys.exit(run_script(__name__, SoakSettings, run_soak, _options, HEADLINE, clean=_clean))
