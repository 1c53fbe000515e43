"""`python bench/state_growth.py --json`: what a reconcile round reads from the state table with 100
and with 10,000 finished jobs in it, before and after the housekeeping purge (see state_growth_run).

Exit 0 when a round read the same job records whatever the number of finished jobs, and
housekeeping left no finished record past its retention; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.state_growth_run import StateGrowthSettings

HEADLINE = ["backend", "finished_jobs", "summary", "met_target", "wall_s"]


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected counts separated by commas, got {text!r}") from None
    if not counts or min(counts) < 0:
        raise argparse.ArgumentTypeError("counts must be 0 or more")
    return counts


def _at_least_one(text: str) -> int:
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return count


def _clean(result: dict[str, Any]) -> bool:
    return bool(result["met_target"])


def _options(parser: argparse.ArgumentParser, d: StateGrowthSettings) -> None:
    parser.add_argument(
        "--finished",
        type=_counts,
        default=d.finished,
        help=f"finished jobs in the table, one run each (default {','.join(map(str, d.finished))})",
    )
    parser.add_argument("--busy", type=int, default=d.busy, help="runners running a job")
    parser.add_argument("--suspects", type=int, default=d.suspects, help="runners confirmed and deleted")
    parser.add_argument("--in-flight", type=int, default=d.in_flight, help="provisions holding a lease")
    parser.add_argument("--waiting", type=int, default=d.waiting, help="jobs the forge lists as waiting")
    parser.add_argument(
        "--repeat", type=_at_least_one, default=d.repeat, help="rounds measured per case (median)"
    )
    parser.add_argument(
        "--azurite",
        action="store_true",
        help="Azure Tables on a private Azurite (the npm package of package.json) instead of memory",
    )


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.cli import run_script
    from bench.state_growth_run import StateGrowthSettings, run_state_growth

    sys.exit(run_script(__name__, StateGrowthSettings, run_state_growth, _options, HEADLINE, clean=_clean))
