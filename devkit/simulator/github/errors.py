"""GitHub's error bodies, raised from anywhere in the simulator and rendered by one middleware, and
reading a request's JSON body and path ids with GitHub's answers to what is not one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from simulator import http
from simulator.http import HttpError

DOCS_URL = "https://docs.github.com/rest"


class ApiError(HttpError):
    """A GitHub REST error; in-process callers of the simulator see the same exception."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
        documentation_url: str = DOCS_URL,
    ) -> None:
        super().__init__(status, message, headers=headers)
        self.errors = errors
        self.documentation_url = documentation_url

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message": self.message,
            "documentation_url": self.documentation_url,
            "status": str(self.status),
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def bad_credentials() -> ApiError:
    return ApiError(401, "Bad credentials")


def validation_failed(resource: str, field: str, message: str) -> ApiError:
    return ApiError(
        422,
        "Validation Failed",
        errors=[{"resource": resource, "field": field, "code": "invalid", "message": message}],
    )


async def read_json_object(request: web.Request) -> dict[str, Any]:
    problem = ApiError(400, "Problems parsing JSON")
    return await http.read_json(request, problem, problem)


def int_param(request: web.Request, name: str) -> int:
    """An integer path parameter; anything else means the route does not exist."""
    return http.int_param(request, name, not_found())
