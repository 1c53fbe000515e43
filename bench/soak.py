"""`python bench/soak.py --jobs N --json`: the fault-injection soak (see soak_run and README.md).

Exit 0 when no job was lost, no VM duplicated and nothing leaked; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HEADLINE = [
    "jobs",
    "ran",
    "lost",
    "duplicate_vms",
    "leaked_vms",
    "leaked_runners",
    "p95_queue_to_running_s",
    "max_queue_to_running_s",
    "idle_vm_seconds",
    "wall_s",
    "time_scale",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from bench.cli import add_run_options
    from bench.soak_run import SoakSettings

    d = SoakSettings()
    parser = argparse.ArgumentParser(prog="bench/soak.py", description=__doc__)
    add_run_options(parser, d)
    parser.add_argument("--rate", type=float, default=d.per_second, help="jobs queued per real second")
    parser.add_argument("--arm-fault-rate", type=float, default=d.arm_fault_rate)
    parser.add_argument("--never-boot", type=float, default=d.never_boot)
    parser.add_argument("--webhook-drop", type=float, default=d.webhook_drop)
    parser.add_argument("--webhook-duplicate", type=float, default=d.webhook_duplicate)
    parser.add_argument("--webhook-reorder", type=float, default=d.webhook_reorder)
    parser.add_argument("--kills", type=int, default=None, help="workers killed (default max(2, jobs/100))")
    parser.add_argument("--max-runners", type=int, default=d.max_runners, help="per pool, but gl-web")
    parser.add_argument("--small-pool-max", type=int, default=d.small_pool_max, help="gl-web's max")
    return parser.parse_args(argv)


def _clean(result: dict[str, Any]) -> bool:
    return not (result["lost"] or result["duplicate_vms"] or result["leaked_vms"] or result["leaked_runners"])


def main(argv: list[str] | None = None) -> int:
    from bench.cli import run, run_options
    from bench.soak_run import SoakSettings, run_soak

    args = parse_args(argv)
    settings = SoakSettings(
        **run_options(args),
        per_second=args.rate,
        arm_fault_rate=args.arm_fault_rate,
        never_boot=args.never_boot,
        webhook_drop=args.webhook_drop,
        webhook_duplicate=args.webhook_duplicate,
        webhook_reorder=args.webhook_reorder,
        kills=args.kills,
        max_runners=args.max_runners,
        small_pool_max=args.small_pool_max,
    )
    return run("soak", settings.jobs, lambda report: run_soak(settings, report), args, HEADLINE, clean=_clean)


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
