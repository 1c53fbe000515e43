from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

# GitHub and GitLab ids are signed 64-bit database keys; they also travel as Azure Tables Int64
# properties and inside state keys, so a larger number is not an id and must not get that far.
MAX_ID = 2**63 - 1


def is_id(value: object) -> TypeGuard[int]:
    # bool is an int in Python; JSON true is not an ID.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


class MalformedEvent(ValueError):
    """The body is not the shape the event type promises; answered with 400."""


class DictWrapper:
    """Read-only access to a JSON object with type-checked getters that raise `MalformedEvent`."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise MalformedEvent("payload must be a JSON object")
        self._data = data

    @property
    def raw(self) -> Mapping[str, Any]:
        return self._data

    def _obj(self, key: str) -> Mapping[str, Any]:
        value = self._data.get(key)
        if not isinstance(value, Mapping):
            raise MalformedEvent(f"'{key}' must be an object")
        return value

    def _opt_obj(self, key: str) -> Mapping[str, Any] | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise MalformedEvent(f"'{key}' must be an object or null")
        return value

    def _str(self, key: str) -> str:
        value = self._data.get(key)
        if not isinstance(value, str):
            raise MalformedEvent(f"'{key}' must be a string")
        return value

    def _opt_str(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is not None and not isinstance(value, str):
            raise MalformedEvent(f"'{key}' must be a string or null")
        return value

    def _int(self, key: str) -> int:
        value = self._data.get(key)
        if not is_id(value):
            raise MalformedEvent(f"'{key}' must be an integer id")
        return value

    def _opt_int(self, key: str) -> int | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not is_id(value):
            raise MalformedEvent(f"'{key}' must be an integer id or null")
        return value

    def _str_list(self, key: str) -> tuple[str, ...]:
        value = self._data.get(key)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise MalformedEvent(f"'{key}' must be a list of strings")
        return tuple(value)

    def _opt_time(self, key: str) -> float | None:
        """A timestamp as epoch seconds (ISO 8601, or GitLab's `2026-11-20 10:00:00 UTC`), or None when
        absent or unreadable: times only feed the metrics, never a reason to refuse an event."""
        value = self._data.get(key)
        if not isinstance(value, str) or len(value) > 40:
            return None
        text = value.strip()
        if text.endswith(" UTC"):
            text = text[:-4] + "+00:00"
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            return None
        return (stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)).timestamp()

    def _opt_seconds(self, key: str) -> float | None:
        """A non-negative duration in seconds, or None when absent or not one."""
        value = self._data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e9:
            return float(value)
        return None


def queued_to_running(queued_at: float | None, started_at: float | None) -> float | None:
    """Seconds from queued to running by the forge's own clock, when both times are known and in order."""
    if queued_at is None or started_at is None or started_at < queued_at:
        return None
    return round(started_at - queued_at, 3)
