"""Judging one target from what the probe VM reported about it.

A target passes when its name resolved, to a private address if it must be private, the TCP
connection was made, and the TLS handshake succeeded. The message says the first thing that went
wrong, in the order a runner would meet it, with what the VM saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from runner_fleet.probe.console import ProbeResult
from runner_fleet.probe.targets import ProbeTarget

Status = Literal["pass", "fail"]


@dataclass(frozen=True)
class TargetVerdict:
    target: ProbeTarget
    result: ProbeResult | None
    status: Status
    message: str

    @property
    def resolved_privately(self) -> bool:
        return self.result is not None and self.result.address is not None and self.result.scope == "private"

    @property
    def summary(self) -> str:
        """What the VM saw, short, for a table row (the message says it in full)."""
        result = self.result
        if result is None:
            return self.message
        if result.address is None:
            return _lookup(result.resolve_error or "no address")
        seen = f"{result.address} {result.scope or ''}".strip()
        if self.target.expect == "private" and result.scope != "private":
            return f"{seen}: expected a private address"
        if result.connect_ms is None:
            return f"{seen}; TCP {self.target.port}: {result.connect_error or 'no answer'}"
        timing = f"{seen}, {result.connect_ms:g} ms"
        if result.tls != "ok":
            return f"{timing}; TLS failed: {result.tls_detail or 'no handshake'}"
        return f"{timing}, TLS ok"

    def document(self) -> dict[str, Any]:
        result = self.result
        return {
            **self.target.document(),
            "status": self.status,
            "address": result.address if result else None,
            "scope": result.scope if result else None,
            "connect_ms": result.connect_ms if result else None,
            "tls": result.tls if result else None,
            "message": self.message,
        }


def judge(target: ProbeTarget, result: ProbeResult | None, *, missing: str) -> TargetVerdict:
    """`missing`: why there is no result, when there is none."""
    if result is None:
        return TargetVerdict(target, None, "fail", missing)
    fqdn = target.fqdn
    if result.address is None:
        why = result.resolve_error or "no address"
        return TargetVerdict(target, result, "fail", f"{fqdn} {_lookup(why)}")
    where = f"{result.address} ({result.scope or 'unknown scope'})"
    if target.expect == "private" and result.scope != "private":
        return TargetVerdict(
            target,
            result,
            "fail",
            f"{fqdn} resolves to {where}, not a private endpoint: the VM's DNS does not answer from "
            "the private zone",
        )
    if result.connect_ms is None:
        why = result.connect_error or "no answer"
        message = f"{fqdn} resolves to {where} but TCP {target.port} fails: {why}"
        return TargetVerdict(target, result, "fail", message)
    if result.tls != "ok":
        why = result.tls_detail or "no handshake"
        return TargetVerdict(
            target,
            result,
            "fail",
            f"{fqdn} ({result.address}) answers TCP but the TLS handshake failed: {why}",
        )
    detail = f", {result.tls_detail}" if result.tls_detail else ""
    return TargetVerdict(
        target, result, "pass", f"{fqdn} -> {where}, TCP in {result.connect_ms:g} ms, TLS ok{detail}"
    )


def _lookup(why: str) -> str:
    return why if why.startswith(("does not resolve", "name lookup")) else f"does not resolve: {why}"
