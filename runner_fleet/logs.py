"""Structured logs: one event per step, each carrying forge, pool, job and runner; secrets never logged.

Redaction works two ways because neither alone is enough: values under secret-sounding keys are
masked, and every registered secret value (webhook secrets, tokens, each JIT config as it is issued)
is masked wherever it appears, including inside exception text rendered into the event.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

MASK = "***"
_SECRET_KEYS = re.compile(r"secret|token|password|private_key|jitconfig|jit_config|authorization|key$", re.I)
# Shapes of credentials that should never be printed even if nobody registered them.
_SECRET_SHAPES = re.compile(
    r"glrt-[A-Za-z0-9_-]{8,}"
    r"|gh[pousr]_[A-Za-z0-9]{16,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|AccountKey=[^;\s]+"
    r"|sig=[A-Za-z0-9%+/=]{16,}"
)


class _SecretRegistry:
    """Exact secret values to mask; bounded so per-runner secrets cannot grow memory without limit."""

    def __init__(self, capacity: int = 4096) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if not value or len(value) < 6:
            return
        with self._lock:
            self._values[value] = None
            self._values.move_to_end(value)
            while len(self._values) > self._capacity:
                self._values.popitem(last=False)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = list(self._values)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        return _SECRET_SHAPES.sub(MASK, text)


SECRETS = _SecretRegistry()


def register_secret(value: str | None) -> None:
    SECRETS.add(value)


def scrub(text: str) -> str:
    return SECRETS.scrub(text)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if _SECRET_KEYS.search(key) and key not in {"event", "token_expires_at"} and value is not None:
            event[key] = MASK
        elif isinstance(value, str):
            event[key] = SECRETS.scrub(value)
        elif isinstance(value, (list, tuple)):
            event[key] = [SECRETS.scrub(v) if isinstance(v, str) else v for v in value]
    return event


def configure(fmt: str = "json", *, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Route structlog through stdlib logging (which the Functions host forwards to Application Insights)."""
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # The native bound logger hands stdlib only the rendered (scrubbed) line, never exc_info:
        # a stdlib handler formatting exc_info itself would print unscrubbed exception text.
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger("runner_fleet")
    root.setLevel(level)
    if stream is not None:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.propagate = False


def get_logger(name: str = "runner_fleet") -> Any:
    return structlog.get_logger(name if name.startswith("runner_fleet") else f"runner_fleet.{name}")


def configure_default() -> None:
    if not structlog.is_configured():
        configure("json", stream=sys.stderr)
