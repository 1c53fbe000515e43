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
from typing import Any

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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from bench.api_budget_run import ApiBudgetSettings
    from bench.cli import add_common

    d = ApiBudgetSettings()
    parser = argparse.ArgumentParser(prog="bench/api_budget.py", description=__doc__)
    parser.add_argument("--repositories", type=int, default=d.repositories, help="in the one org")
    parser.add_argument("--jobs-per-hour", type=int, default=d.jobs_per_hour, help="per simulated hour")
    parser.add_argument("--simulated-hours", type=float, default=d.simulated_hours, help="of load")
    parser.add_argument("--time-scale", type=float, default=d.time_scale, help="simulated s per real s")
    parser.add_argument("--webhook-drop", type=float, default=d.webhook_drop, help="share of webhooks lost")
    parser.add_argument("--max-runners", type=int, default=d.max_runners, help="of the pool")
    parser.add_argument(
        "--scan",
        choices=("budgeted", "naive"),
        default=d.scan,
        help="naive: the scan before the budget (every repository, every round; the 'before' figure)",
    )
    parser.add_argument("--settle-seconds", type=float, default=d.settle_s, help="reserved for settling")
    parser.add_argument("--stall-seconds", type=float, default=d.stall_s, help="stop waiting when stuck")
    parser.add_argument("--max-seconds", type=float, default=None, help="bound on the whole run")
    parser.add_argument("--instances", type=int, default=d.instances, help="function host instances")
    parser.add_argument("--seed", type=int, default=d.seed)
    add_common(parser)
    return parser.parse_args(argv)


def _met_goal(result: dict[str, Any]) -> bool:
    budget = float(result.get("budget_per_hour") or 0)
    return bool(
        result["requests_per_hour"] <= budget / 2
        and result["registrations_refused"] == 0
        and result["lost"] == 0
    )


def main(argv: list[str] | None = None) -> int:
    from bench.api_budget_run import ApiBudgetSettings, run_api_budget
    from bench.cli import run

    args = parse_args(argv)
    settings = ApiBudgetSettings(
        repositories=args.repositories,
        jobs_per_hour=args.jobs_per_hour,
        simulated_hours=args.simulated_hours,
        time_scale=args.time_scale,
        webhook_drop=args.webhook_drop,
        max_runners=args.max_runners,
        scan=args.scan,
        settle_s=args.settle_seconds,
        stall_s=args.stall_seconds,
        max_seconds=args.max_seconds,
        instances=args.instances,
        seed=args.seed,
    )
    return run(
        "api-budget",
        settings.jobs,
        lambda report: run_api_budget(settings, report),
        args,
        HEADLINE,
        clean=_met_goal,
    )


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
