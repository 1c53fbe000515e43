"""Reading a probe's lines out of a serial console log.

The log holds everything the VM printed (firmware, kernel, cloud-init, other scripts), and lines the
console interleaved or cut: a probe line is found anywhere in a line by its prefix, its JSON must
parse and name this run's probe, and anything else is skipped. The VM is not trusted to be well
behaved: fields are taken only with the expected types, and texts are cut short and kept printable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

PREFIX = "runner-fleet-probe: "
MAX_TEXT = 200
Scope = Literal["private", "public"]


@dataclass(frozen=True)
class ProbeResult:
    """One `result` line: what the VM found for one target."""

    target: str
    name: str
    fqdn: str
    port: int
    expect: str
    address: str | None
    scope: Scope | None
    resolve_error: str | None
    connect_ms: float | None
    connect_error: str | None
    tls: Literal["ok", "failed"] | None
    tls_detail: str | None

    @property
    def key(self) -> tuple[str, str, int]:
        return self.target, self.fqdn.lower().rstrip("."), self.port


@dataclass(frozen=True)
class ConsoleReading:
    started: int | None  # the number of targets the `start` line announced, once seen
    results: tuple[ProbeResult, ...]  # one per target, the last said
    done: bool

    def result_for(self, key: tuple[str, str, int]) -> ProbeResult | None:
        return next((r for r in self.results if r.key == key), None)


def read_console(text: str, probe_id: str) -> ConsoleReading:
    started: int | None = None
    # By target: cloud-init copies the script's stdout to the console too, so a line may come twice.
    results: dict[tuple[str, str, int], ProbeResult] = {}
    done = False
    for raw in text.splitlines():
        at = raw.find(PREFIX)
        if at < 0:
            continue
        kind, _, payload = raw[at + len(PREFIX) :].strip().partition(" ")
        fields = _object(payload)
        if fields is None or fields.get("probe") != probe_id:
            continue
        if kind == "start":
            count = fields.get("targets")
            started = count if isinstance(count, int) and not isinstance(count, bool) else 0
        elif kind == "result":
            result = _result(fields)
            if result is not None:
                results[result.key] = result
        elif kind == "done":
            done = True
    return ConsoleReading(started, tuple(results.values()), done)


def _object(payload: str) -> dict[str, Any] | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _result(fields: dict[str, Any]) -> ProbeResult | None:
    fqdn, port = _text(fields.get("fqdn")), fields.get("port")
    if not fqdn or not isinstance(port, int) or isinstance(port, bool):
        return None
    scope = fields.get("scope")
    tls = fields.get("tls")
    return ProbeResult(
        target=_text(fields.get("target")) or "",
        name=_text(fields.get("name")) or fqdn,
        fqdn=fqdn,
        port=port,
        expect=_text(fields.get("expect")) or "any",
        address=_text(fields.get("address")),
        scope=scope if scope in ("private", "public") else None,
        resolve_error=_text(fields.get("resolve_error")),
        connect_ms=_number(fields.get("connect_ms")),
        connect_error=_text(fields.get("connect_error")),
        tls=tls if tls in ("ok", "failed") else None,
        tls_detail=_text(fields.get("tls_detail")),
    )


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    printable = "".join(c if c.isprintable() else " " for c in value)
    return printable[:MAX_TEXT]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
