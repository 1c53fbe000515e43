"""`runner-fleet serve`: the function app's HTTP routes, queue triggers and timers on this machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from runner_fleet import logs, runtime
from runner_fleet.host.hostjson import read_queue_settings
from runner_fleet.host.index import index_app
from runner_fleet.host.local import LocalHost


def host_json_path() -> Path:
    import function_app

    return Path(function_app.__file__).resolve().parent / "host.json"


def run(args: argparse.Namespace) -> int:
    logs.configure(os.environ.get("RUNNER_FLEET_LOG_FORMAT", "console"), stream=sys.stderr)
    cloud: Any = None
    if args.simulate:
        from runner_fleet.cli.simulated import simulated_runtime
        from simulator.stack import SimulatedCloud

        cloud = SimulatedCloud.start(time_scale=float(os.environ.get("RUNNER_FLEET_SIM_TIME_SCALE", "1")))
        try:
            rt = simulated_runtime(cloud, os.environ)
        except BaseException:
            cloud.stop()
            raise
    else:
        rt = runtime.from_environment()
    runtime.install(rt)
    try:
        return asyncio.run(_serve(rt, cloud, args.host, args.port))
    finally:
        if cloud is not None:
            cloud.stop()


async def _serve(rt: runtime.Runtime, cloud: Any, host_name: str, port: int) -> int:
    host = LocalHost(index_app(), rt.queue, read_queue_settings(host_json_path()), host=host_name, port=port)
    url = await host.start()
    ready: dict[str, Any] = {"ready": True, "url": url, "pools": [p.name for p in rt.pools]}
    if cloud is not None:
        from runner_fleet.cli.simulated import connect_forges

        connect_forges(cloud, rt, url)
        ready |= {
            "github_simulator": cloud.github.base_url,
            "arm_simulator": cloud.arm.base_url,
            "arm_ca_bundle": str(cloud.arm.ca_bundle),
            "gitlab_simulator": cloud.gitlab.base_url,
        }
    # One JSON line on stdout, so scripts and tests know where everything listens.
    print(json.dumps(ready), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await host.stop()
        await rt.aclose()
    return 0
