"""The local Functions host: aiohttp for HTTP routes, pollers for queue triggers, a clock for timers.

Queue triggers follow the Storage queues extension the real host loads for this app (extension
bundle 4.x: Microsoft.Azure.WebJobs.Extensions.Storage.Queues 5.x, whose listener lives in
Azure/azure-sdk-for-net under sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Common/src/Shared/;
the older copy in Azure/azure-webjobs-sdk, src/Microsoft.Azure.WebJobs.Extensions.Storage/Queues/,
has the same rules). Settings come from host.json `extensions.queues` (`hostjson.py`, which also
holds the extension's defaults and limits from `QueuesOptions.cs`). Per queue function:

- Fetching (`Queues/QueueListener.cs`, `ExecuteAsync` and `WaitForNewBatchThreshold`): every poll
  asks for `batchSize` messages and hides them for 10 minutes (`_visibilityTimeout =
  TimeSpan.FromMinutes(10)`; `lease_s` here). After a poll that found messages, the next poll waits
  until the function's messages still in flight are at or below `newBatchThreshold`, so at most
  batchSize + newBatchThreshold run at once (this app's host.json: 8 + 4 = 12). A message is in
  flight from its receipt until it is deleted, released or poisoned.
- Idle back-off (`RandomizedExponentialBackoffStrategy(QueuePollingIntervals.Minimum,
  maxPollingInterval)`, `Timers/RandomizedExponentialBackoffStrategy.cs`): after an empty poll the
  wait is 100 ms, then 100 ms + 2^(n-1) x 100 ms x U(0.8, 1.2) for the n-th empty poll in a row,
  capped at `maxPollingInterval`; the first empty poll after one that found messages waits 100 ms
  again. A failed receive backs off the same way. The wait ends early when this host moves a message
  to the queue's poison queue (`QueueListener.Notify` through `SharedQueueWatcher`, registered by
  `RegisterSharedWatcherWithQueueProcessor`).
- Lease renewal (`QueueListener.CreateUpdateMessageVisibilityTimer`,
  `UpdateQueueMessageVisibilityCommand.cs`, `Timers/LinearSpeedupStrategy.cs`): while the function
  runs, at half the lease (5 minutes) the message is hidden for the whole lease again (10 minutes
  from then), and again every half lease. The update returns a new pop receipt, which is the one
  later used to delete or release the message. After a failed update the next one comes sooner: the
  interval halves each time, down to `MinimumVisibilityRenewalInterval` (1 minute). A lost lease
  (pop receipt mismatch, message or queue gone) stops renewal.
- Completion (`Queues/QueueProcessor.cs`): success deletes the message. Failure with
  dequeueCount >= `maxDequeueCount` copies the body to `<queue>-poison` and deletes the message;
  an earlier failure makes it visible again after `visibilityTimeout` (default 0). A message received
  with dequeueCount > `maxDequeueCount` goes to the poison queue without running
  (`BeginProcessingMessageAsync`). A queue without a poison queue (its name already ends in
  `-poison`, or is too long for the suffix: `QueueListenerFactory.CreatePoisonQueueReference`) leaves
  a failed message hidden until its lease ends, and leaves one over the limit hidden without running
  it. A release whose lease is already lost is ignored, as the extension does.

Where it differs from the real host:

- One instance and no scale controller: no target-based or incremental scaling, no drain mode, no
  dynamic concurrency (host.json `concurrency`, off by default in Azure too). bench/stack.py runs
  several LocalHosts on one queue to imitate scale-out.
- Functions run in this process on its event loop, not in a Python worker over gRPC (a synchronous
  function would block the loop; the worker would run it in its thread pool); `functionTimeout` is
  not enforced.
- A failed lease renewal is logged and retried sooner; the extension computes the shorter delay but
  then rethrows a server error to its exception handler. An update in flight when the function ends
  is awaited rather than cancelled, so the receipt used to delete is always the newest.
- `stop()` waits up to 10 seconds for functions in flight, where the real host waits for all of
  them; a message still running after that keeps being renewed while the event loop runs.
- Delete failures other than a lost lease are logged (`host.queue_delete_failed`); the extension
  throws them to its exception handler. Either way the message comes back when its lease ends.
- Timers fire on UTC wall-clock time with `past_due` always False: no schedule monitor, no
  singleton lock across instances. HTTP routes sit under `/api` with no function keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest  # the concrete type the Python worker passes

from runner_fleet.host.hostjson import MIN_POLLING_INTERVAL_S, QueueHostSettings
from runner_fleet.host.index import AppIndex, HttpFunction, QueueFunction, TimerFunction
from runner_fleet.host.ncrontab import Schedule
from runner_fleet.logs import get_logger
from runner_fleet.ports.queue import MessageLeaseLost, ReceivedMessage, WorkQueue, poison_queue
from runner_fleet.usecases.outcome import MAX_BODY_BYTES

log = get_logger("host")

# The app's largest legitimate request is a webhook. Azure's front end reads a body whole before
# the worker sees it; here a larger one is refused before it is read, or while it streams in.
MAX_REQUEST_BYTES = MAX_BODY_BYTES
_TOO_LARGE = {"status": "payload too large"}

# QueueListener.MinimumVisibilityRenewalInterval: the shortest wait between renewals after failures.
MIN_RENEWAL_INTERVAL_S = 60.0
_MAX_QUEUE_NAME = 63  # Azure's limit; a name with room for "-poison" has a poison queue


async def _invoke(handler: Callable[..., Any], **kwargs: Any) -> Any:
    result = handler(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def poison_queue_of(queue: str) -> str | None:
    """The queue's poison queue, or None where the extension has none (`CreatePoisonQueueReference`)."""
    poison = poison_queue(queue)
    if queue.endswith("-poison") or len(poison) > _MAX_QUEUE_NAME:
        return None
    return poison


class PollingBackoff:
    """The listener's wait after an empty poll: `RandomizedExponentialBackoffStrategy`.

    `jitter(low, high)` draws the randomization factor (tests pass a fixed one).
    """

    RANDOMIZATION = 0.2

    def __init__(
        self,
        minimum_s: float,
        maximum_s: float,
        *,
        jitter: Callable[[float, float], float] = random.uniform,  # spreads pollers, not a secret
    ) -> None:
        if not 0 <= minimum_s <= maximum_s:
            raise ValueError(f"polling intervals must satisfy 0 <= {minimum_s} <= {maximum_s}")
        self._minimum, self._maximum, self._jitter = minimum_s, maximum_s, jitter
        self._current = 0.0
        self._exponent = 0

    def next_delay(self, *, found_since_last_delay: bool) -> float:
        if found_since_last_delay:
            self._current, self._exponent = self._minimum, 1
        elif self._current != self._maximum:
            interval = self._minimum
            if self._exponent > 0:
                factor = self._jitter(1 - self.RANDOMIZATION, 1 + self.RANDOMIZATION)
                interval += factor * 2 ** (self._exponent - 1) * self._minimum
            if interval < self._maximum:
                self._current = interval
                self._exponent += 1
            else:
                self._current = self._maximum
        return self._current


class _LeaseRenewal:
    """Keeps one running message hidden: `UpdateQueueMessageVisibilityCommand` on its timer."""

    def __init__(self, queue: WorkQueue, queue_name: str, message: ReceivedMessage, lease_s: float) -> None:
        self.message = message  # with the newest pop receipt
        self._queue, self._queue_name, self._lease_s = queue, queue_name, lease_s
        self._stopped = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"renew:{queue_name}:{message.id}")

    async def stop(self) -> ReceivedMessage:
        """Stop renewing (letting an update in flight finish) and return the message as it is now held."""
        self._stopped.set()
        await self._task
        return self.message

    async def _run(self) -> None:
        normal = self._lease_s / 2  # "Update a message's visibility when it is halfway to expiring."
        minimum = min(MIN_RENEWAL_INTERVAL_S, normal)
        delay = normal
        while not await self._stop_within(delay):
            try:
                self.message = await self._queue.retry_later(
                    self._queue_name, self.message, delay_s=self._lease_s
                )
            except MessageLeaseLost:
                log.warning("host.message_lease_lost", queue=self._queue_name, message_id=self.message.id)
                return
            except Exception:
                log.exception(
                    "host.visibility_renewal_failed", queue=self._queue_name, message_id=self.message.id
                )
                delay = max(delay / 2, minimum)
                continue
            log.debug("host.message_visibility_renewed", queue=self._queue_name, message_id=self.message.id)
            delay = normal

    async def _stop_within(self, delay_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay_s):
                await self._stopped.wait()
        return self._stopped.is_set()


class LocalHost:
    def __init__(
        self,
        index: AppIndex,
        queue: WorkQueue,
        settings: QueueHostSettings,
        *,
        host: str = "127.0.0.1",
        port: int = 7071,
        min_polling_interval_s: float = MIN_POLLING_INTERVAL_S,
    ) -> None:
        self._index = index
        self._queue = queue
        self._settings = settings
        self._host, self._port = host, port
        # The extension refuses maxPollingInterval below its 100 ms minimum; tests may go lower.
        self._min_poll = min(min_polling_interval_s, settings.max_polling_interval_s)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        # Each poller's wake-up, by queue name: set when this host puts a message on that queue.
        self._wake: dict[str, list[asyncio.Event]] = {}
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
            wake = asyncio.Event()
            self._wake.setdefault(queue_function.queue_name, []).append(wake)
            self._tasks.append(
                asyncio.create_task(self._poll(queue_function, wake), name=f"queue:{queue_function.name}")
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
        self._wake.clear()
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
    async def _poll(self, function: QueueFunction, wake: asyncio.Event) -> None:
        """`QueueListener.ExecuteAsync` in a loop: fetch a batch, then wait for the threshold or back off."""
        queue = function.queue_name
        backoff = PollingBackoff(self._min_poll, self._settings.max_polling_interval_s)
        processing: set[asyncio.Task[None]] = set()
        found_since_last_delay = False
        while True:
            wake.clear()
            try:
                messages = await self._queue.receive(
                    queue, max_messages=self._settings.batch_size, visibility_timeout_s=self._settings.lease_s
                )
            except Exception:
                log.exception("host.queue_receive_failed", queue=queue)
                messages = []
            if not messages:
                delay = backoff.next_delay(found_since_last_delay=found_since_last_delay)
                found_since_last_delay = False
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await wake.wait()
                continue
            found_since_last_delay = True
            for message in messages:
                task = asyncio.create_task(self._run_one(function, message), name=f"message:{message.id}")
                processing.add(task)
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            processing = {task for task in processing if not task.done()}
            while len(processing) > self._settings.new_batch_threshold:
                _, processing = await asyncio.wait(processing, return_when=asyncio.FIRST_COMPLETED)

    async def _run_one(self, function: QueueFunction, message: ReceivedMessage) -> None:
        queue = function.queue_name
        poison = poison_queue_of(queue)
        if message.dequeue_count > self._settings.max_dequeue_count:
            # BeginProcessingMessageAsync: already over the limit (its last run died with its host).
            await self._poison(queue, poison, message)
            return
        queue_message = QueueMessage(
            id=message.id,
            body=message.body.encode("utf-8"),
            dequeue_count=message.dequeue_count,
            pop_receipt=message.pop_receipt,
            insertion_time=message.inserted_at,
        )
        self._count(function.name)
        renewal = _LeaseRenewal(self._queue, queue, message, self._settings.lease_s)
        try:
            await _invoke(function.handler, **{function.arg_name: queue_message})
        except Exception:
            log.exception(
                "host.queue_function_failed",
                function=function.name,
                message_id=message.id,
                attempt=message.dequeue_count,
            )
            await self._failed(queue, poison, await renewal.stop())
            return
        except BaseException:
            await renewal.stop()
            raise
        await self._delete(queue, await renewal.stop())

    async def _delete(self, queue: str, message: ReceivedMessage) -> None:
        try:
            await self._queue.delete(queue, message)
        except Exception:
            log.exception("host.queue_delete_failed", queue=queue, message_id=message.id)

    async def _failed(self, queue: str, poison: str | None, message: ReceivedMessage) -> None:
        """`QueueProcessor.CompleteProcessingMessageAsync` for a failed run."""
        if poison is not None and message.dequeue_count >= self._settings.max_dequeue_count:
            await self._poison(queue, poison, message)
            return
        if poison is None:
            # "leave the message invisible when processing fails to prevent a fast infinite loop"
            self._left_hidden(
                "host.failed_message_left_hidden", queue, message, attempt=message.dequeue_count
            )
            return
        try:
            await self._queue.retry_later(queue, message, delay_s=self._settings.visibility_timeout_s)
        except MessageLeaseLost:
            log.info("host.release_skipped_lease_lost", queue=queue, message_id=message.id)
        except Exception:
            log.exception("host.queue_bookkeeping_failed", queue=queue, message_id=message.id)

    async def _poison(self, queue: str, poison: str | None, message: ReceivedMessage) -> None:
        """`QueueProcessor.HandlePoisonMessageAsync`: copy the body to the poison queue, then delete."""
        if poison is None:
            self._left_hidden(
                "host.message_over_limit_left_hidden", queue, message, attempts=message.dequeue_count
            )
            return
        try:
            await self._queue.send(poison, message.body)
        except Exception:
            log.exception("host.queue_bookkeeping_failed", queue=queue, message_id=message.id)
            return
        for wake in self._wake.get(poison, ()):
            wake.set()
        log.error("host.message_poisoned", queue=queue, message_id=message.id, attempts=message.dequeue_count)
        await self._delete(queue, message)

    def _left_hidden(self, event: str, queue: str, message: ReceivedMessage, **attempts: int) -> None:
        """A queue without a poison queue (a poison queue itself) keeps the message hidden for its lease."""
        log.warning(event, queue=queue, message_id=message.id, **attempts, hidden_s=self._settings.lease_s)

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
