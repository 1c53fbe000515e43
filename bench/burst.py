"""`python bench/burst.py --jobs N --json`: N jobs within seconds against ARM's throttles (see burst_run).

Exit 0 when no job was lost and no VM duplicated; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

HEADLINE = [
    "jobs",
    "accepted_all_s",
    "throttle_min_s",
    "webhook_p50_ms",
    "webhook_p99_ms",
    "lost",
    "duplicate_vms",
    "time_scale",
    "wall_s",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from bench.burst_run import BurstSettings
    from bench.cli import add_common

    d = BurstSettings()
    parser = argparse.ArgumentParser(prog="bench/burst.py", description=__doc__)
    parser.add_argument("--jobs", type=int, default=d.jobs, help=f"jobs to queue (default {d.jobs})")
    parser.add_argument("--time-scale", type=float, default=d.time_scale, help="simulated s per real s")
    parser.add_argument("--burst-seconds", type=float, default=d.burst_s, help="queue every job within this")
    parser.add_argument("--max-seconds", type=float, default=d.max_seconds, help="bound on the whole run")
    parser.add_argument("--settle-seconds", type=float, default=d.settle_s, help="reserved for settling")
    parser.add_argument("--stall-seconds", type=float, default=d.stall_s, help="stop waiting when stuck")
    parser.add_argument("--instances", type=int, default=d.instances, help="function host instances")
    parser.add_argument("--seed", type=int, default=d.seed)
    add_common(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from bench.burst_run import BurstSettings, run_burst
    from bench.cli import emit, open_log, progress

    args = parse_args(argv)
    settings = BurstSettings(
        jobs=args.jobs,
        time_scale=args.time_scale,
        burst_s=args.burst_seconds,
        max_seconds=args.max_seconds,
        settle_s=args.settle_seconds,
        stall_s=args.stall_seconds,
        instances=args.instances,
        seed=args.seed,
    )
    log_path, log_stream = open_log(args.log_file, "burst")
    progress(f"burst: {settings.jobs} jobs; service logs in {log_path}")
    try:
        result = asyncio.run(run_burst(settings, progress))
    finally:
        log_stream.close()
    result["log_file"] = str(log_path)
    emit(result, as_json=args.json, headline=HEADLINE)
    return 0 if not (result["lost"] or result["duplicate_vms"]) else 1


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
