"""A probe VM's name and tags, and when one left behind (its process was killed) may be deleted.

Names are `rf-<pool>-probe-<8 hex>`: the runner naming's prefix and pool, so an admin sees whose it
is, but never a runner name (those end in 10 hex digits), so no runner rule and no forge lookup ever
takes a probe VM for a runner. Tags carry `kind=probe`, the pool, when it was made and `expires-at`:
the moment its own run has certainly deleted it or died, after which the reconciler and the next
probe of the pool delete it.
"""

from __future__ import annotations

import re

from runner_fleet import naming
from runner_fleet.forges import Forge
from runner_fleet.ports.compute import (
    KIND_PROBE,
    MANAGED_BY,
    TAG_CREATED_AT,
    TAG_KIND,
    TAG_MANAGED_BY,
    VmInfo,
    tag_stamp,
    tag_time,
)

DEFAULT_TIMEOUT_S = 600.0
MIN_TIMEOUT_S = 60.0
MAX_TIMEOUT_S = 3600.0
# Between a run's timeout and its own delete there is at most one poll and the delete's retries:
# the reconciler leaves the VM to its run this much longer.
DELETE_GRACE_S = 300.0
# No probe VM lives longer than this, whatever its tags say.
MAX_LIFE_S = MAX_TIMEOUT_S + DELETE_GRACE_S
TAG_PROBE = "probe"
TAG_EXPIRES_AT = "expires-at"
_NAME = re.compile(r"^rf-(?P<pool>[a-z][a-z0-9-]{0,18}[a-z0-9])-probe-[0-9a-f]{8}$")


def probe_vm_name(pool: str, token: str) -> str:
    """`token`: 8 hex digits, new for each run (two operators may probe one pool at once)."""
    name = f"{naming.PREFIX}-{pool}-probe-{token}"
    if not _NAME.match(name):
        raise ValueError(f"not a probe VM name: {name!r}")
    return name


def is_probe_name(name: str) -> bool:
    return _NAME.match(name) is not None


def probe_tags(pool: str, forge: Forge, name: str, now: float, timeout_s: float) -> dict[str, str]:
    return {
        TAG_MANAGED_BY: MANAGED_BY,
        "pool": pool,
        "forge": forge,
        TAG_KIND: KIND_PROBE,
        TAG_PROBE: name,
        TAG_CREATED_AT: tag_stamp(now),
        TAG_EXPIRES_AT: tag_stamp(now + min(timeout_s, MAX_TIMEOUT_S) + DELETE_GRACE_S),
    }


def is_probe(vm: VmInfo) -> bool:
    return vm.tags.get(TAG_MANAGED_BY) == MANAGED_BY and vm.kind == KIND_PROBE


def expires_at(vm: VmInfo) -> float | None:
    """When a probe VM may be deleted by others than its own run; None if nothing says when it was made
    (a VM whose tags were changed by hand: treated as long expired)."""
    created = tag_time(vm.tags.get(TAG_CREATED_AT))
    if created is None and vm.created_at is not None:
        created = vm.created_at.timestamp()
    tagged = tag_time(vm.tags.get(TAG_EXPIRES_AT))
    if created is None:
        return tagged
    latest = created + MAX_LIFE_S
    return latest if tagged is None else min(tagged, latest)


def expired(vm: VmInfo, now: float) -> bool:
    """A probe VM whose run is over, whether it ended well or was killed."""
    deadline = expires_at(vm)
    return deadline is None or now >= deadline
