"""`python bench/burst.py --jobs N --json`: N jobs within seconds against ARM's throttles (see burst_run).

Exit 0 when no job was lost and no VM duplicated; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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
    from bench.cli import add_run_options

    d = BurstSettings()
    parser = argparse.ArgumentParser(prog="bench/burst.py", description=__doc__)
    add_run_options(parser, d)
    parser.add_argument("--burst-seconds", type=float, default=d.burst_s, help="queue every job within this")
    return parser.parse_args(argv)


def _clean(result: dict[str, Any]) -> bool:
    return not (result["lost"] or result["duplicate_vms"])


def main(argv: list[str] | None = None) -> int:
    from bench.burst_run import BurstSettings, run_burst
    from bench.cli import run, run_options

    args = parse_args(argv)
    settings = BurstSettings(**run_options(args), burst_s=args.burst_seconds)
    return run(
        "burst", settings.jobs, lambda report: run_burst(settings, report), args, HEADLINE, clean=_clean
    )


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
