"""GitHub's error bodies, raised from anywhere in the simulator and rendered by one middleware."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DOCS_URL = "https://docs.github.com/rest"


class ApiError(Exception):
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
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
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
