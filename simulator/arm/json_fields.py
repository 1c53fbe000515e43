"""Reading ARM request JSON: a missing object is empty unless required, and a wrong type is the
`InvalidRequestContent` ARM answers when it cannot deserialize a body."""

from __future__ import annotations

from typing import Any

from simulator.arm.errors import ArmError, invalid_parameter


def json_object(value: Any, name: str, *, required: bool = False) -> dict[str, Any]:
    if value is None:
        if required:
            raise invalid_parameter(f"Required parameter '{name}' is missing (null).", name)
        return {}
    if not isinstance(value, dict):
        raise ArmError(
            400, "InvalidRequestContent", f"The request content was invalid: '{name}' must be an object."
        )
    return value
