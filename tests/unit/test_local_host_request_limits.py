"""The local host refuses request bodies over 1 MiB before its functions see them, read or not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import azure.functions as func
import pytest

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from tests.unit.local_host_world import one_route, running

ONE_MIB = 1024 * 1024


class Served:
    def __init__(self) -> None:
        self.bodies: list[int] = []
        self.host = ""
        self.port = 0

    async def hook(self, req: func.HttpRequest) -> func.HttpResponse:
        self.bodies.append(len(req.get_body()))
        return func.HttpResponse("{}", status_code=202, mimetype="application/json")


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    served = Served()
    async with running(one_route("hook", served.hook, "POST"), MemoryWorkQueue()) as url:
        address = urlsplit(url)
        served.host, served.port = str(address.hostname), int(address.port or 0)
        yield served


async def _exchange(served: Served, head: str, body: bytes, *, complete: bool = True) -> tuple[int, bytes]:
    """Send a raw request and read the whole answer; an incomplete request's body is never sent."""
    reader, writer = await asyncio.open_connection(served.host, served.port)
    try:
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        if complete:
            writer.write_eof()
        # A host that waited for the body would never answer; the bound only keeps such a failure
        # from hanging the suite.
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=60)
        status_line, *header_lines = head_bytes.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines if line)
        answer = await reader.readexactly(int(headers["Content-Length"]))
    finally:
        writer.close()
    return int(status_line.split()[1]), answer


def _head(**headers: str) -> str:
    lines = ["POST /api/hook HTTP/1.1", "Host: localhost", "Connection: close"]
    return (
        "\r\n".join(lines + [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()])
        + "\r\n"
    )


async def test_a_declared_length_over_1_mib_is_refused_before_the_body_is_sent(served: Served) -> None:
    """Content-Length over 1 MiB is answered 413 though not one byte of the body arrived."""
    status, body = await _exchange(served, _head(Content_Length=str(ONE_MIB + 1)), b"", complete=False)
    assert (status, json.loads(body)) == (413, {"status": "payload too large"})
    assert served.bodies == []


async def test_a_chunked_body_is_cut_off_at_1_mib(served: Served) -> None:
    """A chunked body that grows past 1 MiB is answered 413 and never reaches the function."""
    chunk = b"x" * (ONE_MIB + 1)
    status, body = await _exchange(
        served, _head(Transfer_Encoding="chunked"), f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    )
    assert (status, json.loads(body)) == (413, {"status": "payload too large"})
    assert served.bodies == []


async def test_a_body_of_exactly_1_mib_reaches_the_function(served: Served) -> None:
    """The limit is inclusive: a 1 MiB body is handed to the function whole."""
    status, _ = await _exchange(served, _head(Content_Length=str(ONE_MIB)), b"x" * ONE_MIB)
    assert status == 202
    assert served.bodies == [ONE_MIB]
