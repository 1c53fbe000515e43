"""`python bench/preflight.py --json`: the whole private path, scenario by scenario (see preflight_run):
the ARM requests each example pool's preflight makes (by resource type, with and without the reads
the egress and private-endpoint checks add), its time and its failing and warning checks; then a
probe VM for pool aks-prod, as `runner-fleet doctor --simulate SCENARIO --probe` runs it.

Exit 0 when every scenario gave the verdict it should (the preflight's failing or warning checks,
the probe's targets) and every probe VM was deleted, leaving the simulator without a VM; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


def _scenarios(text: str) -> tuple[str, ...]:
    from bench.preflight_run import EXPECTATIONS

    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in chosen if name not in EXPECTATIONS]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"expected scenarios separated by commas, among: {', '.join(EXPECTATIONS)}"
            + (f" (not {', '.join(unknown)})" if unknown else "")
        )
    return chosen


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _table(result: dict[str, Any]) -> None:
    pools: list[str] = result["pools"]
    print(f"{'scenario':22} {'as expected':11} {'ARM requests per pool (' + ', '.join(pools) + ')':44} probe")
    for name, found in result["scenarios"].items():
        requests = ", ".join(str(p["arm_requests"]) for p in found["preflight"].values())
        probe = found["probe"]
        probed = found["preflight"].get(result["probe_pool"], {})
        checks = "".join(
            f"; {what} {', '.join(probed[key])}"
            for what, key in (("fails", "failing"), ("warns", "warning"))
            if probed.get(key)
        )
        print(
            f"{name:22} {'yes' if found['as_expected'] else 'NO':11} {requests:44} "
            f"{probe['targets_passed']}/{probe['targets']} targets in {probe['wall_s']} s{checks}"
        )
        for miss in found["unmet"]:
            print(f"{'':22} {miss}")
    healthy = result["healthy_preflight_arm_requests"]
    if healthy is not None:
        without = healthy["without_private_path_reads"]
        print(
            f"healthy, ARM requests per pool preflight: mean {healthy['mean']}, max {healthy['max']}; "
            f"without the private-path reads: mean {without['mean']}, max {without['max']}"
        )
    print(f"{'log_file':22} {result['log_file']}")


def main() -> int:
    from bench.cli import emit, open_log, progress
    from bench.preflight_run import PreflightSettings, run_preflight_bench

    d = PreflightSettings()
    parser = argparse.ArgumentParser(
        prog="bench/preflight.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenarios",
        type=_scenarios,
        default=d.scenarios,
        metavar="A,B",
        help=f"the scenarios, separated by commas (default {','.join(d.scenarios)})",
    )
    parser.add_argument(
        "--time-scale",
        type=_positive,
        default=d.time_scale,
        metavar="SCALE",
        help="simulated s per real s (%(default)s)",
    )
    parser.add_argument(
        "--probe-timeout",
        dest="probe_timeout_s",
        type=_positive,
        default=d.probe_timeout_s,
        metavar="SECONDS",
        help="real seconds a probe may take (%(default)s)",
    )
    parser.add_argument(
        "--settle-seconds",
        dest="settle_s",
        type=_positive,
        default=d.settle_s,
        metavar="SECONDS",
        help="real seconds to wait for the probe VM's delete to complete (%(default)s)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (and nothing else) on stdout"
    )
    parser.add_argument(
        "--log-file", type=Path, metavar="PATH", help="the service's structured logs (default: a temp file)"
    )
    values = vars(parser.parse_args())
    as_json, log_file = values.pop("json"), values.pop("log_file")
    settings = PreflightSettings(**values)

    log_path, log_stream = open_log(log_file, "preflight")
    progress(f"preflight: service logs in {log_path}")
    try:
        result = asyncio.run(run_preflight_bench(settings, progress))
    finally:
        log_stream.close()
    result["log_file"] = str(log_path)
    if as_json:
        emit(result, as_json=True, headline=[])
    else:
        _table(result)
    return 0 if result["as_expected"] else 1


if __name__ == "__main__":
    # Run as a script: make the project root importable so `bench` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
