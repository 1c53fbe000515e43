"""Test helpers both forges' simulators share: polling, and a receiver that records webhooks."""

from __future__ import annotations

import asyncio
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, overload

from aiohttp import web
from multidict import CIMultiDict

T = TypeVar("T")


@overload
async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within_s: float = ..., poll_s: float = ..., what: str = ...
) -> T: ...
@overload
async def eventually(
    probe: Callable[[], T | None], *, within_s: float = ..., poll_s: float = ..., what: str = ...
) -> T: ...
async def eventually(
    probe: Callable[[], Any],
    *,
    within_s: float = 5.0,
    poll_s: float = 0.01,
    what: str = "the condition",
) -> Any:
    """Call `probe` (plain or async) until it returns something truthy, and return that.

    The one polling helper of the tests: a test waits for a positive sign, never a fixed time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"{what} was not reached within {within_s:g}s")
        await asyncio.sleep(poll_s)


async def wait_until(predicate: Callable[[], bool], *, within_s: float = 5.0, poll_s: float = 0.01) -> None:
    """Poll `predicate` (e.g. over the simulator's in-process views) until it holds."""
    await eventually(predicate, within_s=within_s, poll_s=poll_s)


@dataclass(frozen=True)
class ReceivedHook:
    headers: CIMultiDict[str]  # header names are case-insensitive, as on the wire
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


HookT = TypeVar("HookT", bound=ReceivedHook)


class HookReceiver(ABC, Generic[HookT]):
    """An HTTP endpoint on the caller's event loop that records every webhook POSTed to it.

    It answers with `status` (change it to make deliveries fail) and records failed ones too.
    """

    def __init__(self, *, status: int = 200) -> None:
        self.status = status
        self.received: list[HookT] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    @abstractmethod
    def _parse(self, headers: CIMultiDict[str], body: bytes) -> HookT: ...

    @abstractmethod
    def for_job(self, job_id: int) -> list[HookT]: ...

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/webhook"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        hook = self._parse(CIMultiDict(request.headers), await request.read())
        async with self._arrived:
            self.received.append(hook)
            self._arrived.notify_all()
        return web.Response(status=self.status, text="ok")

    async def wait_for(self, predicate: Callable[[list[HookT]], bool], *, within_s: float = 5.0) -> None:
        async with asyncio.timeout(within_s), self._arrived:
            await self._arrived.wait_for(lambda: predicate(self.received))
