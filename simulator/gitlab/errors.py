"""GitLab's error bodies, raised from anywhere in the simulator and rendered by one middleware.

GitLab answers most errors as `{"message": ...}` (a string, or a dict of field errors for
validation failures) and parameter errors from its API framework as `{"error": ...}`.
"""

from __future__ import annotations

from typing import Any, Literal


class ApiError(Exception):
    """A GitLab REST error; in-process callers of the simulator see the same exception."""

    def __init__(
        self,
        status: int,
        message: Any,
        *,
        key: Literal["message", "error"] = "message",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.key = key
        self.headers = dict(headers or {})

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
