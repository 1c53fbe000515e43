"""Snapshots of the simulator's state for tests, the demo and the control endpoints. They are
plain JSON-able copies, safe to hand to another thread."""

from __future__ import annotations

import copy
from dataclasses import asdict
from typing import Any

from simulator.arm.state import ArmState
from simulator.arm.vm_model import VmRecord


def vm_snapshot(state: ArmState, record: VmRecord) -> dict[str, Any]:
    resource = state.store.get(record.id)
    tags = resource.body.get("tags") if resource is not None else None
    return record.snapshot(tags)


def vm_snapshots(state: ArmState, *, deleted: bool = False) -> list[dict[str, Any]]:
    records = state.deleted_vms if deleted else list(state.vms.values())
    return [vm_snapshot(state, r) for r in records]


def find_vm_snapshot(state: ArmState, name: str, resource_group: str | None = None) -> dict[str, Any] | None:
    record = state.find_vm(name, resource_group)
    return None if record is None else vm_snapshot(state, record)


def console_lines(state: ArmState, name: str, resource_group: str | None = None) -> list[str] | None:
    record = state.find_vm(name, resource_group)
    return None if record is None else list(record.console)


def request_log(state: ArmState, limit: int | None = None) -> list[dict[str, Any]]:
    entries = list(state.request_log)
    if limit is not None:
        entries = entries[-limit:]
    return [dict(e) for e in entries]


def resources(state: ArmState, type_name: str | None = None) -> list[dict[str, Any]]:
    found = []
    for resource in state.store:
        if type_name is not None and resource.type.lower() != type_name.lower():
            continue
        found.append({"id": str(resource.id), "type": resource.type, "body": copy.deepcopy(resource.body)})
    return found


def config_summary(state: ArmState) -> dict[str, Any]:
    config = state.config
    return {
        "timing": asdict(config.timing),
        "page_size": config.page_size,
        "never_boot": asdict(config.never_boot),
        "throttling": asdict(config.throttle),
        "sizes": [s.name for s in config.sizes],
        "locations": list(config.topology.locations),
        "require_rg_location": config.require_rg_location,
        "api_versions": {kind: list(versions) for kind, versions in config.api_versions.items()},
        "faults": faults(state),
    }


def faults(state: ArmState) -> list[dict[str, Any]]:
    return [r.describe() for r in state.config.faults] + [r.describe() for r in state.config.lro_failures]
