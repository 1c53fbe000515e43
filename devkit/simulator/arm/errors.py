"""ARM's error answer: `{"error": {"code", "message", "target"?, "details"?}}` with an HTTP status, and
the errors of reading request JSON."""

from __future__ import annotations

import math
from typing import Any

from simulator.clock import SimClock


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


def retry_after(clock: SimClock, sim_s: float) -> dict[str, str]:
    """How long to wait, `sim_s` simulated seconds (an endless wait: an hour): `Retry-After` in the
    whole seconds azure-core reads first, and the exact `retry-after-ms`, so scaled time waits less."""
    real = clock.real(sim_s) if math.isfinite(sim_s) else 3600.0
    return {
        "Retry-After": str(max(1, math.ceil(real))),
        "retry-after-ms": str(max(1, math.ceil(real * 1000))),
    }


def json_object(value: Any, name: str, *, required: bool = False) -> dict[str, Any]:
    """A part of a request body: missing is empty unless required; anything but an object is the
    `InvalidRequestContent` ARM answers when it cannot deserialize a body."""
    if value is None:
        if required:
            raise invalid_parameter(f"Required parameter '{name}' is missing (null).", name)
        return {}
    if not isinstance(value, dict):
        raise ArmError(
            400, "InvalidRequestContent", f"The request content was invalid: '{name}' must be an object."
        )
    return value
