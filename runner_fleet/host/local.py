"""The local Functions host: aiohttp for HTTP routes, pollers for queue triggers, a clock for timers.

Queue semantics follow the Azure Functions host: a batch of up to `batchSize` messages at a time,
a failed message becomes visible again after `visibilityTimeout`, and after `maxDequeueCount`
attempts it moves to `<queue>-poison`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest  # the concrete type the Python worker passes

from runner_fleet.host.hostjson import QueueHostSettings
from runner_fleet.host.index import AppIndex, HttpFunction, QueueFunction, TimerFunction
from runner_fleet.host.ncrontab import Schedule
from runner_fleet.logs import get_logger
from runner_fleet.ports.queue import ReceivedMessage, WorkQueue, poison_queue
from runner_fleet.usecases.outcome import MAX_BODY_BYTES

log = get_logger("host")

# The app's largest legitimate request is a webhook. Azure's front end reads a body whole before
# the worker sees it; here a larger one is refused before it is read, or while it streams in.
MAX_REQUEST_BYTES = MAX_BODY_BYTES
_TOO_LARGE = {"status": "payload too large"}


async def _invoke(handler: Callable[..., Any], **kwargs: Any) -> Any:
    result = handler(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


class LocalHost:
    def __init__(
        self,
        index: AppIndex,
        queue: WorkQueue,
        settings: QueueHostSettings,
        *,
        host: str = "127.0.0.1",
        port: int = 7071,
        min_polling_interval_s: float = 0.05,
    ) -> None:
        self._index = index
        self._queue = queue
        self._settings = settings
        self._host, self._port = host, port
        self._min_poll = min_polling_interval_s
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self.base_url = ""
        self.invocations: dict[str, int] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        for function in self._index.http:
            for method in function.methods:
                app.router.add_route(method, f"/api/{function.route}", self._http_handler(function))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]  # the bound port when 0 was asked for
        self.base_url = f"http://{self._host}:{port}"
        for queue_function in self._index.queues:
            self._tasks.append(
                asyncio.create_task(self._poll(queue_function), name=f"queue:{queue_function.name}")
            )
        for timer in self._index.timers:
            self._tasks.append(asyncio.create_task(self._tick(timer), name=f"timer:{timer.name}"))
        log.info(
            "host.started",
            url=self.base_url,
            http=[f.route for f in self._index.http],
            queues=[q.queue_name for q in self._index.queues],
            timers=[t.name for t in self._index.timers],
        )
        return self.base_url

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=10)
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _count(self, name: str) -> None:
        self.invocations[name] = self.invocations.get(name, 0) + 1

    # -- HTTP -----------------------------------------------------------------------------------
    def _http_handler(self, function: HttpFunction) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            if (request.content_length or 0) > MAX_REQUEST_BYTES:
                return web.json_response(_TOO_LARGE, status=413)
            try:
                body = await request.read()  # client_max_size stops a chunked body at the limit
            except web.HTTPRequestEntityTooLarge:
                return web.json_response(_TOO_LARGE, status=413)
            req = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                params=dict(request.query),
                route_params=dict(request.match_info),
                body=body,
            )
            self._count(function.name)
            try:
                response = await _invoke(function.handler, **{function.arg_name: req})
            except Exception:
                log.exception("host.http_function_failed", function=function.name)
                return web.json_response({"status": "internal error"}, status=500)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            if response.mimetype and "content-type" not in {k.lower() for k in headers}:
                headers["Content-Type"] = response.mimetype
            return web.Response(status=response.status_code, body=response.get_body(), headers=headers)

        return handle

    # -- queues ---------------------------------------------------------------------------------
    async def _poll(self, function: QueueFunction) -> None:
        limit = asyncio.Semaphore(self._settings.batch_size + self._settings.new_batch_threshold)
        idle = self._min_poll
        while True:
            try:
                free = limit._value
                messages = (
                    await self._queue.receive(
                        function.queue_name,
                        max_messages=max(1, min(self._settings.batch_size, free)),
                        visibility_timeout_s=self._settings.lease_s,
                    )
                    if free > 0
                    else []
                )
            except Exception:
                log.exception("host.queue_receive_failed", queue=function.queue_name)
                messages = []
            if not messages:
                await asyncio.sleep(idle)
                idle = min(idle * 2, self._settings.max_polling_interval_s)
                continue
            idle = self._min_poll
            for message in messages:
                await limit.acquire()
                task = asyncio.create_task(self._run_one(function, message))
                self._inflight.add(task)
                task.add_done_callback(self._finished(limit))

    def _finished(self, limit: asyncio.Semaphore) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._inflight.discard(task)
            limit.release()

        return done

    async def _run_one(self, function: QueueFunction, message: ReceivedMessage) -> None:
        queue_message = QueueMessage(
            id=message.id,
            body=message.body.encode("utf-8"),
            dequeue_count=message.dequeue_count,
            pop_receipt=message.pop_receipt,
            insertion_time=message.inserted_at,
        )
        self._count(function.name)
        try:
            await _invoke(function.handler, **{function.arg_name: queue_message})
        except Exception:
            log.exception(
                "host.queue_function_failed",
                function=function.name,
                message_id=message.id,
                attempt=message.dequeue_count,
            )
            await self._failed(function, message)
            return
        with contextlib.suppress(Exception):
            await self._queue.delete(function.queue_name, message)

    async def _failed(self, function: QueueFunction, message: ReceivedMessage) -> None:
        queue = function.queue_name
        try:
            if message.dequeue_count >= self._settings.max_dequeue_count:
                await self._queue.send(poison_queue(queue), message.body)
                await self._queue.delete(queue, message)
                log.error(
                    "host.message_poisoned",
                    queue=queue,
                    message_id=message.id,
                    attempts=message.dequeue_count,
                )
            else:
                await self._queue.retry_later(queue, message, delay_s=self._settings.visibility_timeout_s)
        except Exception:
            log.exception("host.queue_bookkeeping_failed", queue=queue, message_id=message.id)

    # -- timers ---------------------------------------------------------------------------------
    async def _tick(self, timer: TimerFunction) -> None:
        schedule = Schedule.parse(timer.schedule)
        if timer.run_on_startup:
            await self._fire(timer)
        while True:
            now = datetime.now(UTC)
            due = schedule.next_after(now)
            await asyncio.sleep(max(0.0, (due - now).total_seconds()))
            await self._fire(timer)

    async def _fire(self, timer: TimerFunction) -> None:
        self._count(timer.name)
        try:
            await _invoke(timer.handler, **{timer.arg_name: TimerRequest(past_due=False)})
        except Exception:
            log.exception("host.timer_failed", function=timer.name)
