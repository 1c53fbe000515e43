"""`runner-fleet serve --simulate`: the function app on this machine, every client on the simulators."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from runner_fleet import logs
from runner_fleet.cli import serve as product
from runner_fleet_dev.simulated import connect_forges, simulated_runtime


def run(args: argparse.Namespace) -> int:
    if not args.simulate:
        return product.run(args)
    from simulator.stack import SimulatedCloud

    logs.configure(os.environ.get("RUNNER_FLEET_LOG_FORMAT", "console"), stream=sys.stderr)
    cloud = SimulatedCloud.start(time_scale=float(os.environ.get("RUNNER_FLEET_SIM_TIME_SCALE", "1")))
    try:
        rt = simulated_runtime(cloud, os.environ)

        def ready(url: str) -> dict[str, Any]:
            connect_forges(cloud, rt, url)
            return {
                "github_simulator": cloud.github.base_url,
                "arm_simulator": cloud.arm.base_url,
                "arm_ca_bundle": str(cloud.arm.ca_bundle),
                "gitlab_simulator": cloud.gitlab.base_url,
            }

        return product.serve(rt, args.host, args.port, on_ready=ready)
    finally:
        cloud.stop()
