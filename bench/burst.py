"""`python bench/burst.py --jobs N --json`: N jobs within seconds against ARM's throttles (see burst_run).

Exit 0 when no job was lost and no VM duplicated; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.burst_run import BurstSettings

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


def _clean(result: dict[str, Any]) -> bool:
    return not (result["lost"] or result["duplicate_vms"])


def _options(parser: argparse.ArgumentParser, d: BurstSettings) -> None:
    parser.add_argument(
        "--burst-seconds", dest="burst_s", type=float, default=d.burst_s, help="queue every job within this"
    )


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.burst_run import BurstSettings, run_burst
    from bench.cli import run_script

    sys.exit(run_script(__name__, BurstSettings, run_burst, _options, HEADLINE, clean=_clean))
