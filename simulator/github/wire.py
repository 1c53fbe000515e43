"""HTTP plumbing shared by the simulator's routes: JSON in and out, timestamps, error rendering."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from simulator.github.errors import ApiError
from simulator.http import json_response


def iso(ts: float | None) -> str | None:
    """GitHub's timestamp format: second precision, UTC, trailing Z."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(prefix: str, number: int) -> str:
    return prefix + base64.b64encode(f"{prefix}{number}".encode()).decode().rstrip("=")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "Problems parsing JSON") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "Problems parsing JSON")
    return data


def int_param(request: web.Request, name: str) -> int:
    """An integer path parameter; anything else means the route does not exist."""
    try:
        return int(request.match_info[name])
    except ValueError as exc:
        raise ApiError(404, "Not Found") from exc


REQUEST_ID = web.RequestKey("github_request_id", str)


@web.middleware
async def github_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render ApiError and aiohttp's own 404/405 the way GitHub does, with a request id."""
    request_id = uuid.uuid4().hex[:20].upper()
    request[REQUEST_ID] = request_id  # error messages that quote it (the primary rate limit's) read it here
    try:
        response = await handler(request)
    except ApiError as exc:
        response = json_response(exc.body(), status=exc.status, headers=exc.headers)
    except web.HTTPNotFound:
        response = json_response(ApiError(404, "Not Found").body(), status=404)
    except web.HTTPMethodNotAllowed:
        response = json_response(ApiError(404, "Not Found").body(), status=404)
    response.headers["X-GitHub-Request-Id"] = request_id
    return response
