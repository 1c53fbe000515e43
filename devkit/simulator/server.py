"""Run aiohttp applications on a private event loop in a background thread.

The simulators must keep answering while the code under test blocks (PyGithub is synchronous)
or runs its own loop, so they get a loop of their own. Their state belongs to that loop: other
threads reach it through `BackgroundLoop.run`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")
log = logging.getLogger(__name__)


class BackgroundLoop:
    def __init__(self, name: str = "simulators") -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._runners: list[web.AppRunner] = []
        self._thread.start()
        self._ready.wait()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run `coro` on the simulator loop and wait for its result (from any other thread)."""
        return self.submit(coro).result(timeout)

    def run(self, fn: Callable[[], T]) -> T:
        """`fn()` on the simulator loop, from any thread; directly when already on it (waiting for
        the loop from the loop would deadlock)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return fn()

        async def invoke() -> T:
            return fn()

        return self.call(invoke())

    def serve(self, app: web.Application, *, ssl_context: ssl.SSLContext | None = None, port: int = 0) -> str:
        """Serve `app` on 127.0.0.1 and return its base URL (no trailing slash)."""
        return self.call(self._serve(app, ssl_context, port))

    async def _serve(self, app: web.Application, ssl_context: ssl.SSLContext | None, port: int) -> str:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context)
        await site.start()
        self._runners.append(runner)
        bound = runner.addresses[0][1]
        scheme = "https" if ssl_context else "http"
        return f"{scheme}://127.0.0.1:{bound}"

    def close(self) -> None:
        if not self._loop.is_running():
            return

        async def _cleanup() -> None:
            for runner in reversed(self._runners):
                await runner.cleanup()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(_cleanup(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


class TaskSet:
    """The background tasks of one part of a simulator, cancelled together; a failed one is logged."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._tasks)
        self.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task failed", self._what, exc_info=task.exception())
