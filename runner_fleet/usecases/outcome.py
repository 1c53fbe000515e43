from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WebhookOutcome:
    """How the HTTP adapter should answer: the status code and a short reason for the forge's log."""

    status: int
    reason: str
    queued: str | None = None

    @property
    def body(self) -> dict[str, str]:
        return {"status": self.reason} | ({"queued": self.queued} if self.queued else {})


MAX_BODY_BYTES = 25 * 1024 * 1024


class Headers:
    """Case-insensitive, read-only view of request headers (hosts disagree on their case)."""

    def __init__(self, raw: object) -> None:
        items = raw.items() if hasattr(raw, "items") else []
        self._h = {str(k).lower(): str(v) for k, v in items}

    def get(self, name: str) -> str | None:
        return self._h.get(name.lower())
