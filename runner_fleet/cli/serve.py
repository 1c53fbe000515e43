"""`runner-fleet serve`: the function app's HTTP routes, queue triggers and timers on this machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
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
    return serve(runtime.from_environment(), args.host, args.port)


# Given the URL the app listens on, more for the ready line (and a chance to point clients at it).
OnReady = Callable[[str], Mapping[str, Any]]


def serve(rt: runtime.Runtime, host: str, port: int, on_ready: OnReady | None = None) -> int:
    """Serve `rt` until SIGINT or SIGTERM, printing one JSON "ready" line on stdout once listening."""
    runtime.install(rt)
    try:
        return asyncio.run(_serve(rt, host, port, on_ready))
    finally:
        runtime.install(None)


async def _serve(rt: runtime.Runtime, host_name: str, port: int, on_ready: OnReady | None) -> int:
    host = LocalHost(index_app(), rt.queue, read_queue_settings(host_json_path()), host=host_name, port=port)
    url = await host.start()
    ready: dict[str, Any] = {"ready": True, "url": url, "pools": [p.name for p in rt.pools]}
    if on_ready is not None:
        ready |= on_ready(url)
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
