"""`python bench/soak.py --jobs N --json`: the fault-injection soak (see soak_run and README.md).

Exit 0 when no job was lost, no VM duplicated and nothing leaked; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

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
    from bench.cli import add_common
    from bench.soak_run import SoakSettings

    d = SoakSettings()
    parser = argparse.ArgumentParser(prog="bench/soak.py", description=__doc__)
    parser.add_argument("--jobs", type=int, default=d.jobs, help=f"jobs to queue (default {d.jobs})")
    parser.add_argument("--time-scale", type=float, default=d.time_scale, help="simulated s per real s")
    parser.add_argument("--rate", type=float, default=d.per_second, help="jobs queued per real second")
    parser.add_argument("--max-seconds", type=float, default=d.max_seconds, help="bound on the whole run")
    parser.add_argument("--settle-seconds", type=float, default=d.settle_s, help="reserved for settling")
    parser.add_argument("--stall-seconds", type=float, default=d.stall_s, help="stop waiting when stuck")
    parser.add_argument("--instances", type=int, default=d.instances, help="function host instances")
    parser.add_argument("--arm-fault-rate", type=float, default=d.arm_fault_rate)
    parser.add_argument("--never-boot", type=float, default=d.never_boot)
    parser.add_argument("--webhook-drop", type=float, default=d.webhook_drop)
    parser.add_argument("--webhook-duplicate", type=float, default=d.webhook_duplicate)
    parser.add_argument("--webhook-reorder", type=float, default=d.webhook_reorder)
    parser.add_argument("--kills", type=int, default=None, help="workers killed (default max(2, jobs/100))")
    parser.add_argument("--max-runners", type=int, default=d.max_runners, help="per pool, but gl-web")
    parser.add_argument("--small-pool-max", type=int, default=d.small_pool_max, help="gl-web's max")
    parser.add_argument("--seed", type=int, default=d.seed)
    add_common(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from bench.cli import emit, open_log, progress
    from bench.soak_run import SoakSettings, run_soak

    args = parse_args(argv)
    settings = SoakSettings(
        jobs=args.jobs,
        time_scale=args.time_scale,
        per_second=args.rate,
        max_seconds=args.max_seconds,
        settle_s=args.settle_seconds,
        stall_s=args.stall_seconds,
        instances=args.instances,
        arm_fault_rate=args.arm_fault_rate,
        never_boot=args.never_boot,
        webhook_drop=args.webhook_drop,
        webhook_duplicate=args.webhook_duplicate,
        webhook_reorder=args.webhook_reorder,
        kills=args.kills,
        max_runners=args.max_runners,
        small_pool_max=args.small_pool_max,
        seed=args.seed,
    )
    log_path, log_stream = open_log(args.log_file, "soak")
    progress(f"soak: {settings.jobs} jobs; service logs in {log_path}")
    try:
        result = asyncio.run(run_soak(settings, progress))
    finally:
        log_stream.close()
    result["log_file"] = str(log_path)
    emit(result, as_json=args.json, headline=HEADLINE)
    clean = not (
        result["lost"] or result["duplicate_vms"] or result["leaked_vms"] or result["leaked_runners"]
    )
    return 0 if clean else 1


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
