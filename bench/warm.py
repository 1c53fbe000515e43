"""`python bench/warm.py --json [--plot FILE.png]`: warm runners, off / static / schedule / auto, on
one simulated day replayed on a GitHub pool and a GitLab pool (see warm_run, warm_trace and README.md).

Exit 0 when every mode ran without a lost job, a duplicate VM or a leak; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.warm_run import WarmSettings

HEADLINE = ["trace", "modes", "warm_hit_p50_s", "goals", "wall_s"]


def _options(parser: argparse.ArgumentParser, d: WarmSettings) -> None:
    from bench.warm_run import parse_modes

    def modes(text: str) -> Any:
        try:
            return parse_modes(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parser.add_argument(
        "--modes", type=modes, default=d.modes, help=f"comma-separated (default {','.join(d.modes)})"
    )
    parser.add_argument("--quick", action="store_true", help="a thin day of short trace hours (tests)")
    parser.add_argument("--plot", type=Path, default=None, help="write the wait / idle-cost chart (PNG)")
    parser.add_argument(
        "--trace-hour",
        dest="hour_sim_s",
        type=float,
        default=d.hour_sim_s,
        help="simulated s (300; quick 40)",
    )
    parser.add_argument("--static-warm", type=int, default=d.static_warm)
    parser.add_argument("--schedule-warm", type=int, default=d.schedule_warm)
    parser.add_argument("--auto-max", type=int, default=d.auto_max)
    parser.add_argument(
        "--auto-budget",
        dest="auto_budget_vm_hours",
        type=float,
        default=d.auto_budget_vm_hours,
        help="idle_budget_vm_hours_per_day",
    )


def _clean(result: dict[str, Any]) -> bool:
    from bench.warm_run import clean

    return clean(result)


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.cli import run_script
    from bench.warm_run import WarmSettings, run_warm

    sys.exit(run_script(__name__, WarmSettings, run_warm, _options, HEADLINE, clean=_clean))
