"""Deterministic resource names: a retried step produces the same name, so a retried PUT is a no-op.

Runner, VM and computer names are all `rf-<pool>-<10 hex>`: short (Linux computer names stop at 64),
DNS-safe, and parseable back to the pool without a lookup.
"""

from __future__ import annotations

import hashlib
import re

from runner_fleet.forges import Forge

PREFIX = "rf"
_NAME = re.compile(r"^rf-(?P<pool>[a-z][a-z0-9-]{0,18}[a-z0-9])-(?P<suffix>[0-9a-f]{10})$")


def runner_name(pool: str, forge: Forge, job_key: str) -> str:
    """The name of the runner (and VM) provisioned for one job of one pool."""
    digest = hashlib.sha256(f"{forge}\0{pool}\0{job_key}".encode()).hexdigest()[:10]
    return f"{PREFIX}-{pool}-{digest}"


def pool_runner_name(pool: str, forge: Forge, key: str) -> str:
    """The name of a runner made for the pool rather than for one job (warm, or a replacement)."""
    return runner_name(pool, forge, f"pool\0{key}")


def pool_of(name: str | None) -> str | None:
    """The pool a runner name belongs to, or None if the name is not one of ours."""
    if not name:
        return None
    match = _NAME.match(name)
    return match.group("pool") if match else None


def nic_name(vm_name: str) -> str:
    return f"{vm_name}-nic"


def os_disk_name(vm_name: str) -> str:
    return f"{vm_name}-osdisk"
