"""`python bench/api_budget.py --json`: what the service costs in GitHub REST requests (see api_budget_run).

One org of `--repositories` repositories, `--jobs-per-hour` jobs spread over them for
`--simulated-hours`, `--webhook-drop` of the webhooks lost, the reconciler every simulated minute.
Exit 0 when the requests stayed within half the installation's hourly budget, no registration was
refused and no job was lost; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.api_budget_run import ApiBudgetSettings

HEADLINE = [
    "requests_per_hour",
    "installation_requests_per_hour",
    "budget_per_hour",
    "min_remaining",
    "registrations_refused",
    "lost",
    "by_kind",
    "scan",
    "time_scale",
    "simulated_hours",
    "wall_s",
]


def _clean(result: dict[str, Any]) -> bool:
    budget = float(result.get("budget_per_hour") or 0)
    return bool(
        result["requests_per_hour"] <= budget / 2
        and result["registrations_refused"] == 0
        and result["lost"] == 0
    )


def _options(parser: argparse.ArgumentParser, d: ApiBudgetSettings) -> None:
    parser.add_argument("--repositories", type=int, default=d.repositories, help="in the one org")
    parser.add_argument("--jobs-per-hour", type=int, default=d.jobs_per_hour, help="per simulated hour")
    parser.add_argument("--simulated-hours", type=float, default=d.simulated_hours, help="of load")
    parser.add_argument("--webhook-drop", type=float, default=d.webhook_drop, help="share of webhooks lost")
    parser.add_argument("--max-runners", type=int, default=d.max_runners, help="of the pool")
    parser.add_argument(
        "--scan",
        choices=("budgeted", "naive"),
        default=d.scan,
        help="naive: the scan before the budget (every repository, every round; the 'before' figure)",
    )


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.api_budget_run import ApiBudgetSettings, run_api_budget
    from bench.cli import run_script

    sys.exit(run_script(__name__, ApiBudgetSettings, run_api_budget, _options, HEADLINE, clean=_clean))
