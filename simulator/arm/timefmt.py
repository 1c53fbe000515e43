"""Timestamps in the ISO-8601 form ARM uses (`2024-05-01T10:00:00.1234567+00:00`, here to the µs)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")


def iso_or_none(epoch: float | None) -> str | None:
    return None if epoch is None else iso(epoch)
