"""The local Functions host: queue retries and poison handling, timers, HTTP mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import azure.functions as func

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.host.hostjson import read_queue_settings
from runner_fleet.host.index import AppIndex, TimerFunction
from simulator.testing import wait_until
from tests.unit.local_host_world import WORK, one_function, one_route, running, settings


async def _until(predicate: Any, within_s: float = 5.0) -> None:
    await wait_until(predicate, within_s=within_s, poll_s=0.02)


async def test_a_handled_message_is_deleted() -> None:
    """A queue function that returns normally has its message removed."""
    seen: list[str] = []

    async def handler(msg: Any) -> None:
        seen.append(msg.get_body().decode())

    queue = MemoryWorkQueue()
    async with running(one_function(handler), queue):
        await queue.send(WORK, "hello")
        await _until(lambda: seen == ["hello"])
        await _until(lambda: queue.bodies(WORK) == [])
        assert await queue.depth(WORK) == 0


async def test_a_failing_message_is_retried_then_poisoned() -> None:
    """A message failing maxDequeueCount times moves to <queue>-poison; each try sees its dequeue count."""
    counts: list[int] = []

    async def handler(msg: Any) -> None:
        counts.append(msg.dequeue_count)
        raise RuntimeError("always fails")

    queue = MemoryWorkQueue()
    async with running(one_function(handler), queue, settings(max_dequeue_count=3)):
        await queue.send(WORK, "doomed")
        await _until(lambda: queue.bodies("work-poison") == ["doomed"])
        assert counts == [1, 2, 3]
        assert await queue.depth(WORK) == 0


async def test_timer_runs_on_startup_when_declared() -> None:
    """A timer with run_on_startup fires once at start, with a TimerRequest."""
    fired: list[Any] = []

    def tick(timer: Any) -> None:
        fired.append(timer)

    async with running(
        AppIndex((), (), (TimerFunction("t", tick, "timer", "0 0 0 1 1 *", True),)), MemoryWorkQueue()
    ):
        await _until(lambda: len(fired) == 1)
        assert fired[0].past_due is False


async def test_http_functions_get_the_raw_body_and_headers() -> None:
    """The HTTP route passes method, headers and the exact body, and returns status, headers and body."""

    async def echo(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(
            req.get_body()[::-1], status_code=207, headers={"X-Seen": req.headers.get("x-probe", "")}
        )

    async with (
        running(one_route("echo", echo, "POST"), MemoryWorkQueue()) as url,
        aiohttp.ClientSession() as session,
        session.post(f"{url}/api/echo", data=b"abc", headers={"X-Probe": "yes"}) as response,
    ):
        assert response.status == 207
        assert await response.read() == b"cba"
        assert response.headers["X-Seen"] == "yes"
        async with session.get(f"{url}/api/echo") as wrong_method:
            assert wrong_method.status == 405


async def test_an_http_function_that_raises_answers_500() -> None:
    """An exception in an HTTP function is a 500 without its text."""

    async def broken(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("secret detail")

    async with (
        running(one_route("b", broken, "GET"), MemoryWorkQueue()) as url,
        aiohttp.ClientSession() as session,
        session.get(f"{url}/api/b") as response,
    ):
        assert response.status == 500
        assert "secret detail" not in await response.text()


def test_host_json_queue_settings_are_read() -> None:
    """The project's host.json queue settings are what the local host uses."""
    settings = read_queue_settings(Path(__file__).resolve().parents[2] / "host.json")
    assert (settings.batch_size, settings.max_dequeue_count, settings.visibility_timeout_s) == (32, 5, 30.0)
    assert settings.max_polling_interval_s == 2.0
