"""HTTP plumbing shared by the routes: JSON or form parameters in, JSON out, GitLab's time formats."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from simulator.gitlab.errors import ApiError, bad_request
from simulator.http import JSON_CONTENT_TYPE, json_response

TRUE_WORDS = frozenset({"true", "1", "yes", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "f"})


def api_time(ts: float | None) -> str | None:
    """The REST API's timestamps: ISO 8601 with milliseconds, UTC, trailing Z."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hook_time(ts: float | None) -> str | None:
    """Webhook payloads' timestamps, as Ruby prints a UTC time: `2026-11-20 10:00:00 UTC`."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def hook_time_iso(ts: float | None) -> str | None:
    """The `*_iso` companions of webhook timestamps: ISO 8601 to the second."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def read_params(request: web.Request) -> dict[str, Any]:
    """Body parameters as GitLab's API accepts them: a JSON object, or a form (`a[]` for arrays)."""
    if request.content_type == JSON_CONTENT_TYPE or not request.body_exists:
        raw = await request.read()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise bad_request("The provided content-type 'application/json' is not valid JSON") from exc
        if not isinstance(data, dict):
            raise bad_request("The request body must be a JSON object")
        return data
    form = await request.post()
    params: dict[str, Any] = {}
    for key in form:
        values = [str(v) for v in form.getall(key)]
        if key.endswith("[]"):
            params[key[:-2]] = values
        else:
            params[key] = values[-1]
    return params


def boolean(params: Mapping[str, Any], key: str, default: bool) -> bool:
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in TRUE_WORDS | FALSE_WORDS:
        return value.lower() in TRUE_WORDS
    raise bad_request(f"{key} is invalid")


def optional_int(params: Mapping[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad_request(f"{key} is invalid")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{key} is invalid") from None


def string_list(value: Any, key: str) -> list[str]:
    """A list given as an array or as a comma-separated string (both are accepted by GitLab)."""
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        raise bad_request(f"{key} is invalid")
    return [item.strip() for item in items if item.strip()]


def query_bool(request: web.Request, key: str) -> bool | None:
    value = request.query.get(key)
    if value is None:
        return None
    return boolean({key: value}, key, default=False)


def int_param(request: web.Request, name: str, what: str | None = None) -> int:
    """An integer path parameter; anything else names nothing that exists."""
    try:
        return int(request.match_info[name])
    except ValueError as exc:
        raise ApiError(404, f"404 {what} Not Found" if what else "404 Not Found") from exc


@web.middleware
async def gitlab_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render ApiError and aiohttp's own 404/405 the way GitLab does, with a request id."""
    request_id = uuid.uuid4().hex[:26].upper()
    try:
        response = await handler(request)
    except ApiError as exc:
        response = json_response(exc.body(), status=exc.status, headers=exc.headers)
    except web.HTTPNotFound:
        response = json_response({"error": "404 Not Found"}, status=404)
    except web.HTTPMethodNotAllowed:
        response = json_response({"error": "405 Method Not Allowed"}, status=405)
    response.headers["X-Request-Id"] = request_id
    return response
