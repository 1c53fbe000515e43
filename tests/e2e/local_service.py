"""The service on a local host in this process, against a simulated cloud, for e2e tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from runner_fleet import runtime
from runner_fleet.cli.serve import host_json_path
from runner_fleet.host.hostjson import read_queue_settings
from runner_fleet.host.index import index_app
from runner_fleet.host.local import LocalHost
from runner_fleet_dev.simulated import connect_forges, simulated_runtime
from simulator.stack import SimulatedCloud


@asynccontextmanager
async def local_service(cloud: SimulatedCloud) -> AsyncIterator[runtime.Runtime]:
    """The service's runtime, installed and served with this project's host.json, its webhooks
    connected to `cloud`'s forges; everything is stopped on the way out (not the cloud)."""
    rt = simulated_runtime(cloud, {})
    runtime.install(rt)
    host = LocalHost(index_app(), rt.queue, read_queue_settings(host_json_path()), port=0)
    try:
        url = await host.start()
        connect_forges(cloud, rt, url)
        yield rt
    finally:
        await host.stop()
        await rt.aclose()
        runtime.install(None)
