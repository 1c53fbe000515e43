"""ARM's error answer: `{"error": {"code", "message", "target"?, "details"?}}` with an HTTP status."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": error_detail(self.code, self.message, target=self.target, details=self.details)}


def error_detail(
    code: str, message: str, *, target: str | None = None, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        detail["target"] = target
    if details:
        detail["details"] = details
    return detail


def invalid_parameter(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)


def resource_not_found(type_name: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{type_name}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )
