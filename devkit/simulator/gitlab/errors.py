"""GitLab's error bodies, raised from anywhere in the simulator and rendered by one middleware, and
reading a request's parameters (JSON or form) and path ids with GitLab's answers to what is not one.

GitLab answers most errors as `{"message": ...}` (a string, or a dict of field errors for
validation failures) and parameter errors from its API framework as `{"error": ...}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from aiohttp import web

from simulator import http
from simulator.http import JSON_CONTENT_TYPE, HttpError

API = "/api/v4"
TRUE_WORDS = frozenset({"true", "1", "yes", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "f"})


class ApiError(HttpError):
    """A GitLab REST error; in-process callers of the simulator see the same exception."""

    def __init__(
        self,
        status: int,
        message: Any,
        *,
        key: Literal["message", "error"] = "message",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers=headers)
        self.key = key

    def body(self) -> dict[str, Any]:
        return {self.key: self.message}


def unauthorized() -> ApiError:
    return ApiError(401, "401 Unauthorized")


def forbidden() -> ApiError:
    return ApiError(403, "403 Forbidden")


def insufficient_permissions() -> ApiError:
    """What `POST /user/runners` answers a user without the role the runner's scope needs."""
    return ApiError(403, "403 Forbidden - Insufficient permissions")


def not_found(what: str | None = None) -> ApiError:
    return ApiError(404, f"404 {what} Not Found" if what else "404 Not Found")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, key="error")


def invalid_record(field: str, message: str) -> ApiError:
    """A model validation failure: `{"message": {"<field>": ["<message>"]}}`."""
    return ApiError(400, {field: [message]})


async def read_params(request: web.Request) -> dict[str, Any]:
    """Body parameters as GitLab's API accepts them: a JSON object, or a form (`a[]` for arrays)."""
    if request.content_type == JSON_CONTENT_TYPE or not request.body_exists:
        return await http.read_json(
            request,
            bad_request("The provided content-type 'application/json' is not valid JSON"),
            bad_request("The request body must be a JSON object"),
        )
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
    return http.int_param(request, name, not_found(what))
