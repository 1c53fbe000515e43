"""HTTP the forges' simulators share: JSON in and out, path ids, credentials, timestamps, and API
errors rendered by one middleware."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

JSON_CONTENT_TYPE = "application/json"
# The id of the request being answered, for error messages that quote it (GitHub's primary rate limit).
REQUEST_ID = web.RequestKey("request_id", str)


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        content_type=JSON_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


def utc_time(ts: float | None, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str | None:
    """A timestamp as the forges print it: by default ISO 8601 to the second, UTC, trailing Z."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime(fmt)


def bearer(request: web.Request, schemes: Collection[str] = ("bearer",)) -> str | None:
    """The credential of `Authorization: <scheme> X` for one of `schemes` (lower case)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() in schemes and value.strip() else None


class HttpError(Exception):
    """A forge's REST error, raised from anywhere in its simulator; in-process callers see the same
    exception. Each forge's subclass says what its error body looks like."""

    def __init__(self, status: int, message: Any, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"message": self.message}


def error_middleware(
    *, request_id_header: str, request_id_chars: int, unrouted: Callable[[web.HTTPException], HttpError]
) -> Middleware:
    """Render HttpError, and aiohttp's own 404 and 405 as `unrouted` says, with a request id header."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = uuid.uuid4().hex[:request_id_chars].upper()
        request[REQUEST_ID] = request_id
        try:
            response = await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            error = unrouted(exc)
            response = json_response(error.body(), status=error.status, headers=error.headers)
        except HttpError as exc:
            response = json_response(exc.body(), status=exc.status, headers=exc.headers)
        response.headers[request_id_header] = request_id
        return response

    return middleware


def int_param(request: web.Request, name: str, not_found: HttpError) -> int:
    """An integer path parameter; anything else names nothing that exists (`not_found`)."""
    try:
        return int(request.match_info[name])
    except ValueError as exc:
        raise not_found from exc


async def read_json(request: web.Request, unreadable: HttpError, not_object: HttpError) -> dict[str, Any]:
    """The body's JSON object ({} for no body), or the forge's answer to what is not one."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise unreadable from exc
    if not isinstance(data, dict):
        raise not_object
    return data
