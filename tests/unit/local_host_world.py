"""What the local host's tests share: quick queue settings, small app indexes, a host running for a block."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from runner_fleet.host.hostjson import MIN_POLLING_INTERVAL_S, QueueHostSettings
from runner_fleet.host.index import AppIndex, HttpFunction, QueueFunction
from runner_fleet.host.local import LocalHost
from runner_fleet.ports.queue import WorkQueue

WORK = "work"
# Small batches, empty queues polled every 50 ms, and otherwise the extension's defaults (five
# attempts, a failed message released at once).
FAST = QueueHostSettings(batch_size=4, new_batch_threshold=2, max_polling_interval_s=0.05, lease_s=30.0)


def settings(**changes: Any) -> QueueHostSettings:
    """`FAST` with `changes`."""
    return dataclasses.replace(FAST, **changes)


def one_function(handler: Any, queue: str = WORK) -> AppIndex:
    """An app of one function, triggered by `queue`."""
    return AppIndex((), (QueueFunction("f", handler, "msg", queue, ""),), ())


def one_route(route: str, handler: Any, *methods: str) -> AppIndex:
    """An app of one HTTP function at /api/`route`."""
    return AppIndex((HttpFunction(route, handler, "req", route, methods),), (), ())


@asynccontextmanager
async def running(
    index: AppIndex,
    queue: WorkQueue,
    host_settings: QueueHostSettings = FAST,
    *,
    min_polling_interval_s: float = MIN_POLLING_INTERVAL_S,
) -> AsyncIterator[str]:
    """A local host serving `index` from `queue` while the block runs; its URL."""
    host = LocalHost(index, queue, host_settings, port=0, min_polling_interval_s=min_polling_interval_s)
    url = await host.start()
    try:
        yield url
    finally:
        await host.stop()
