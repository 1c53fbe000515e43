"""Structured logs: one event per step, each carrying forge, pool, job and runner; secrets never logged.

Redaction works two ways because neither alone is enough: values under secret-sounding keys are
masked, and every registered secret value (webhook secrets, tokens, the App's private key, each JIT
config as it is issued) is masked wherever it appears, including inside exception text rendered into
the event, inside nested values, and in its base64 and URL-encoded forms. Libraries that log through
stdlib logging (the Azure SDK, PyGithub, python-gitlab, urllib3, requests) get the same masking.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TextIO
from urllib.parse import quote

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


def _encoded_forms(value: str) -> list[str]:
    """How `value` may appear once encoded: a JIT config or token often travels base64-encoded.

    Inside a larger base64 text (customData, a basic-auth header) the secret's bytes start at any
    offset modulo 3, and the characters at both edges mix with its neighbours; for each of the
    three alignments only the middle characters are fixed, and those are what is masked.
    """
    raw = value.encode("utf-8", "surrogatepass")
    forms = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        forms += [whole, whole.rstrip("=")]
        for shift in range(3):
            start, stop = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
            forms.append(encode(bytes(shift) + raw).decode()[start:stop])
    forms.append(quote(value, safe=""))
    # A PEM key pasted into an app setting often keeps its line breaks as backslash-n, and a key
    # can leak a line at a time (a traceback quoting one).
    forms.append(value.replace("\r\n", "\\n").replace("\n", "\\n"))
    forms += [line.strip() for line in value.splitlines() if len(line.strip()) >= _MIN_LINE]
    return forms


_MIN_SECRET = 6
_MIN_LINE = 16
_PREFIX = _MIN_SECRET  # every form is at least this long, so its first characters index it


class _SecretRegistry:
    """Exact secret values to mask; bounded so per-runner secrets cannot grow memory without limit.

    Each secret is masked in its plain and encoded forms. Forms are indexed by their first
    characters, so scrubbing a text costs one dictionary lookup per character however many
    secrets (each runner's JIT config among them) are registered.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._values: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._refs: dict[str, int] = {}
        # Readers look up without the lock: buckets are immutable tuples, replaced whole.
        self._index: dict[str, tuple[str, ...]] = {}
        self._capacity = capacity
        # The service's own credentials: masked for the life of the process, whatever is evicted.
        self._kept: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | None, *, keep: bool = False) -> None:
        if not value or len(value) < _MIN_SECRET:
            return
        with self._lock:
            if keep and value not in self._kept:
                self._kept.add(value)
                for form in self._forms(value):
                    self._ref(form, +1)  # a reference no eviction takes back
            if value in self._values:
                self._values.move_to_end(value)
                return
            forms = self._forms(value)
            self._values[value] = forms
            for form in forms:
                self._ref(form, +1)
            while len(self._values) > self._capacity:
                _, evicted = self._values.popitem(last=False)
                for form in evicted:
                    self._ref(form, -1)

    @staticmethod
    def _forms(value: str) -> tuple[str, ...]:
        return tuple({form for form in (value, *_encoded_forms(value)) if len(form) >= _PREFIX})

    def _ref(self, form: str, delta: int) -> None:
        count = self._refs.get(form, 0) + delta
        key = form[:_PREFIX]
        bucket = [f for f in self._index.get(key, ()) if f != form]
        if count > 0:
            self._refs[form] = count
            bucket.append(form)
        else:
            self._refs.pop(form, None)
        if bucket:
            # Longest first, so the widest match at a position is the one taken.
            self._index[key] = tuple(sorted(bucket, key=len, reverse=True))
        else:
            self._index.pop(key, None)

    def scrub(self, text: str) -> str:
        index = self._index
        if index:
            spans: list[tuple[int, int]] = []
            for i in range(len(text) - _PREFIX + 1):
                for form in index.get(text[i : i + _PREFIX], ()):
                    if text.startswith(form, i):
                        spans.append((i, i + len(form)))
                        break
            text = _mask_spans(text, spans)
        return _SECRET_SHAPES.sub(MASK, text)


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with every span replaced by the mask; overlapping spans are masked as one."""
    if not spans:
        return text
    parts: list[str] = []
    kept_from = 0
    start, stop = spans[0]
    for begin, end in spans[1:]:
        if begin <= stop:
            stop = max(stop, end)
            continue
        parts += [text[kept_from:start], MASK]
        kept_from, start, stop = stop, begin, end
    parts += [text[kept_from:start], MASK, text[stop:]]
    return "".join(parts)


SECRETS = _SecretRegistry()


def register_secret(value: str | None, *, keep: bool = False) -> None:
    """Mask `value` in every log line; per-runner secrets may be evicted after thousands of newer
    ones, the service's own credentials (`keep=True`) never are."""
    SECRETS.add(value, keep=keep)


def scrub(text: str) -> str:
    return SECRETS.scrub(text)


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEYS.search(key) is not None and key not in _NOT_SECRET_KEYS


# Event names and field names that merely mention a secret (`token.refreshed`, the expiry time).
_NOT_SECRET_KEYS = frozenset({"event", "token_expires_at"})
# Deeper than any structure we log; beyond it the rest is rendered as text and scrubbed as such.
_MAX_DEPTH = 12


def mask(value: Any, depth: int = 0) -> Any:
    """`value` made safe to render: secrets masked by key and by value, at any depth.

    Strings, numbers and containers keep their shape. Bytes are decoded; anything else (an
    exception, a model, a response) becomes the `repr` the renderer would print, scrubbed.
    """
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return scrub(bytes(value).decode("utf-8", "backslashreplace"))
    if depth < _MAX_DEPTH:
        if isinstance(value, Mapping):
            return {mask(k, _MAX_DEPTH): _mask_item(k, v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [mask(item, depth + 1) for item in value]
    try:
        text = repr(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return scrub(text)


def _mask_item(key: object, value: Any, depth: int) -> Any:
    return MASK if _is_secret_key(key) and value is not None else mask(value, depth)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        event[key] = _mask_item(key, value, 0)
    return event


def _mask_by_key(value: Any, depth: int = 0) -> Any:
    """`value` with whatever sits under a secret-sounding key masked; everything else untouched.

    For stdlib log arguments, which are formatted with `%s` and `%r` afterwards: converting them
    as `mask` does would change what they print.
    """
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            k: MASK if _is_secret_key(k) and v is not None else _mask_by_key(v, depth + 1)
            for k, v in value.items()
        }
    if type(value) in (list, tuple):
        return type(value)(_mask_by_key(item, depth + 1) for item in value)
    return value


def scrub_record(record: logging.LogRecord) -> None:
    """Mask secrets in a stdlib record in place: its message with arguments, exception and stack.

    The Azure SDK, PyGithub, python-gitlab, urllib3 and requests log URLs, headers and bodies
    through stdlib logging; their records never pass through the structlog processors above.
    """
    if record.args:
        record.args = _mask_by_key(record.args)
    try:
        message = record.getMessage()
    except Exception:
        # Left as it was, logging would print the raw message and arguments when it fails to format.
        message = f"{record.msg!s} (its arguments could not be formatted)"
    record.msg, record.args = scrub(message), ()
    if record.exc_info and record.exc_info[0] is not None:
        # Handlers format exc_info themselves, unscrubbed; formatted and scrubbed here, it goes
        # out as exc_text, which logging.Formatter prints in its place.
        record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


class _ScrubbingRecordFactory:
    """Scrubs every stdlib record as it is made, whichever logger or handler it then goes to.

    A filter on a library's logger misses the records of its child loggers (propagation skips
    ancestors' filters), and a filter on handlers misses handlers added later (the Functions
    worker's, PyGithub's `enable_console_debug_logging`); a record factory sees every record.
    """

    def __init__(self, wrapped: Callable[..., logging.LogRecord]) -> None:
        self.wrapped = wrapped

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.wrapped(*args, **kwargs)
        scrub_record(record)
        return record


def scrub_stdlib_logging() -> None:
    """Route every stdlib log record, third-party libraries' included, through the masking."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _ScrubbingRecordFactory):
        logging.setLogRecordFactory(_ScrubbingRecordFactory(current))


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
    scrub_stdlib_logging()
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
