"""Configuration of the ARM simulator: topology, VM size catalogue, timings, throttling and faults.

Durations are simulated seconds (the SimClock scales them). Everything here can also be changed
at run time through `ArmSimulator.configure(...)` or `POST /_sim/config` with the same keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from simulator.arm.api_versions import DEFAULT_SERVED
from simulator.arm.faults import FaultRule, LroFailureRule
from simulator.arm.topology import Topology, default_topology

GIB = 1024**3


@dataclass(frozen=True)
class VmSize:
    name: str
    family: str
    vcpus: int
    memory_gb: float
    max_resource_volume_mb: int  # the temp (resource) disk; 0 when the size has none
    cached_disk_bytes: int  # the host cache an ephemeral OS disk can live in; 0 when none
    ephemeral_os_disk_supported: bool
    premium_io: bool = True
    low_priority_capable: bool = True
    accelerated_networking: bool = True
    max_data_disks: int = 4
    locations: tuple[str, ...] | None = None  # None: every location of the topology
    restricted_locations: tuple[str, ...] = ()  # listed there, but NotAvailableForSubscription
    zones: tuple[str, ...] = ("1", "2", "3")
    nvme_disk_mib: int = 0  # the local NVMe (temp) disk of newer sizes; 0 when none
    # Where an ephemeral OS disk may go (SupportedEphemeralOSDiskPlacements); None: derived from the disks.
    ephemeral_placements: tuple[str, ...] | None = None

    @property
    def placements(self) -> tuple[str, ...]:
        if not self.ephemeral_os_disk_supported:
            return ()
        if self.ephemeral_placements is not None:
            return self.ephemeral_placements
        derived = (
            ("ResourceDisk", self.max_resource_volume_mb > 0),
            ("CacheDisk", self.cached_disk_bytes > 0),
            ("NvmeDisk", self.nvme_disk_mib > 0),
        )
        return tuple(name for name, present in derived if present)

    def placement_capacity_gb(self, placement: str) -> int:
        return {
            "cachedisk": self.cached_disk_bytes // GIB,
            "resourcedisk": self.max_resource_volume_mb // 1024,
            "nvmedisk": self.nvme_disk_mib // 1024,
        }.get(placement.lower(), 0)

    def offered_in(self, location: str, all_locations: tuple[str, ...]) -> bool:
        listed = self.locations if self.locations is not None else all_locations
        loc = location.lower()
        return loc in {x.lower() for x in listed} and loc not in {
            x.lower() for x in self.restricted_locations
        }


@dataclass(frozen=True)
class ImageSpec:
    """A marketplace image (publisher:offer:sku) with the versions offered, newest last."""

    publisher: str
    offer: str
    sku: str
    versions: tuple[str, ...]
    locations: tuple[str, ...] | None = None  # None: every location of the topology

    def offered_in(self, location: str, all_locations: tuple[str, ...]) -> bool:
        listed = self.locations if self.locations is not None else all_locations
        return location.lower() in {x.lower() for x in listed}


def default_images() -> tuple[ImageSpec, ...]:
    return (
        ImageSpec("Canonical", "ubuntu-24_04-lts", "server", ("24.04.202501140", "24.04.202502210")),
        ImageSpec("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", ("22.04.202501150",)),
    )


def default_sizes() -> tuple[VmSize, ...]:
    return (
        VmSize("Standard_D2ads_v5", "standardDADSv5Family", 2, 8, 76800, 0, True),
        VmSize("Standard_D4ads_v5", "standardDADSv5Family", 4, 16, 153600, 0, True),
        VmSize("Standard_D2s_v5", "standardDSv5Family", 2, 8, 0, 50 * GIB, True),
        VmSize(
            "Standard_B2s",
            "standardBSFamily",
            2,
            4,
            8192,
            0,
            False,
            low_priority_capable=False,
            accelerated_networking=False,
        ),
        VmSize("Standard_F4s_v2", "standardFSv2Family", 4, 8, 32768, 64 * GIB, True, max_data_disks=8),
        # A v6 size: no SCSI temp disk, no cache; a 110 GiB local NVMe disk is the only ephemeral place.
        VmSize(
            "Standard_D2ads_v6",
            "standardDADSv6Family",
            2,
            8,
            0,
            0,
            True,
            nvme_disk_mib=110 * 1024,
            ephemeral_placements=("NvmeDisk",),
        ),
    )


@dataclass
class Timing:
    latency_ms: tuple[float, float] = (0.0, 0.0)  # per ARM request, uniform in [min, max]
    provisioning_s: float = 45.0  # PUT accepted -> provisioningState Succeeded
    boot_s: float = 30.0  # Succeeded -> guest OS up and cloud-init running
    delete_s: float = 30.0  # DELETE accepted -> resource gone
    poll_interval_s: float = 5.0  # the polling hint sent with LRO answers (retry-after-ms)
    link_s: float = 30.0  # private DNS zone link PUT accepted -> virtualNetworkLinkState Completed


@dataclass
class NeverBoot:
    """VMs that reach provisioningState Succeeded but whose guest never starts."""

    probability: float = 0.0
    count: int = 0


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    refill_per_s: float

    @classmethod
    def per_window(cls, capacity: float, window_s: float) -> BucketSpec:
        return cls(capacity, capacity / window_s)


def default_compute_buckets() -> dict[str, dict[str, BucketSpec]]:
    """Compute's operation groups; sizes match the `x-ms-ratelimit-remaining-resource` values Azure
    reports for a fresh subscription (e.g. `Microsoft.Compute/PutVM3Min;239,...PutVM30Min;1199`)."""
    w = BucketSpec.per_window
    return {
        "PutVM": {"PutVM3Min": w(240, 180), "PutVM30Min": w(1200, 1800)},
        "DeleteVM": {"DeleteVM3Min": w(240, 180), "DeleteVM30Min": w(1200, 1800)},
        "LowCostGet": {"LowCostGet3Min": w(4000, 180), "LowCostGet30Min": w(32000, 1800)},
        "HighCostGet": {"HighCostGet3Min": w(140, 180), "HighCostGet30Min": w(700, 1800)},
    }


@dataclass
class ThrottleConfig:
    """Token buckets. ARM's are per subscription and principal (the bearer token); Compute's per
    subscription and region. Refill is continuous, in simulated time."""

    enabled: bool = True
    arm_reads: BucketSpec = BucketSpec(250, 25)
    arm_writes: BucketSpec = BucketSpec(200, 10)
    arm_deletes: BucketSpec = BucketSpec(200, 10)
    compute: dict[str, dict[str, BucketSpec]] = field(default_factory=default_compute_buckets)


@dataclass
class ArmConfig:
    topology: Topology = field(default_factory=default_topology)
    sizes: tuple[VmSize, ...] = field(default_factory=default_sizes)
    images: tuple[ImageSpec, ...] = field(default_factory=default_images)
    timing: Timing = field(default_factory=Timing)
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)
    faults: list[FaultRule] = field(default_factory=list)
    lro_failures: list[LroFailureRule] = field(default_factory=list)
    never_boot: NeverBoot = field(default_factory=NeverBoot)
    # API versions served per resource type; a test models a cloud that lags by narrowing one.
    api_versions: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_SERVED))
    page_size: int = 50
    default_os_disk_gb: int = 30  # the platform image's OS disk when diskSizeGB is not given
    # Azure itself accepts a VM in another region than its resource group; runner-fleet must not
    # rely on that, so the simulator rejects it unless told otherwise.
    require_rg_location: bool = True
    guest_poll_s: float = 0.25
    # How often the GitLab runner on a VM asks for a job: run-single waits gitlab-runner's
    # CheckInterval (3 s, common/consts.go) after each request that brought none.
    gitlab_check_interval_s: float = 3.0
    request_log_size: int = 5000
    console_lines: int = 2000
    seed: int | None = None

    def size(self, name: str) -> VmSize | None:
        wanted = name.lower()
        return next((s for s in self.sizes if s.name.lower() == wanted), None)


def _set_latency(config: ArmConfig, value: Any) -> None:
    low, high = (float(v) for v in value)
    if low < 0 or high < low:
        raise ValueError("latency_ms must be [min, max] with 0 <= min <= max")
    config.timing.latency_ms = (low, high)


def _timing_setter(key: str) -> Callable[[ArmConfig, Any], None]:
    def set_duration(config: ArmConfig, value: Any) -> None:
        if float(value) < 0:
            raise ValueError(f"{key} must not be negative")
        setattr(config.timing, key, float(value))

    return set_duration


def _set_timing(config: ArmConfig, value: Any) -> None:
    config.timing = value if isinstance(value, Timing) else replace(config.timing, **value)


def _set_page_size(config: ArmConfig, value: Any) -> None:
    if int(value) < 1:
        raise ValueError("page_size must be positive")
    config.page_size = int(value)


def _set_never_boot(config: ArmConfig, value: Any) -> None:
    config.never_boot = value if isinstance(value, NeverBoot) else replace(config.never_boot, **dict(value))


def _set_throttle(config: ArmConfig, value: Any) -> None:
    config.throttle = value if isinstance(value, ThrottleConfig) else _throttle_patch(config.throttle, value)


def _set_sizes(config: ArmConfig, value: Any) -> None:
    config.sizes = tuple(s if isinstance(s, VmSize) else _size_from_json(s) for s in value)


def _set_api_versions(config: ArmConfig, value: Any) -> None:
    updated = dict(config.api_versions)
    for resource_type, versions in dict(value).items():
        if resource_type not in updated:
            raise ValueError(f"unknown resource type {resource_type!r}")
        updated[resource_type] = tuple(str(v) for v in versions)
    config.api_versions = updated


def _scalar_setter(key: str) -> Callable[[ArmConfig, Any], None]:
    def set_scalar(config: ArmConfig, value: Any) -> None:
        setattr(config, key, type(getattr(config, key))(value))

    return set_scalar


_SETTERS: dict[str, Callable[[ArmConfig, Any], None]] = {
    "latency_ms": _set_latency,
    **{
        key: _timing_setter(key)
        for key in ("provisioning_s", "boot_s", "delete_s", "poll_interval_s", "link_s")
    },
    "timing": _set_timing,
    "page_size": _set_page_size,
    "never_boot": _set_never_boot,
    "throttle": _set_throttle,
    "throttling": _set_throttle,
    "sizes": _set_sizes,
    "api_versions": _set_api_versions,
    **{
        key: _scalar_setter(key)
        for key in ("require_rg_location", "guest_poll_s", "gitlab_check_interval_s", "default_os_disk_gb")
    },
}


def apply_patch(config: ArmConfig, patch: Mapping[str, Any]) -> None:
    """Apply a run-time change (the JSON of `POST /_sim/config`) in place; ValueError on bad input."""
    for key in patch:
        if key not in _SETTERS:
            raise ValueError(f"unknown configuration key {key!r}")
    for key, value in patch.items():
        _SETTERS[key](config, value)


def _bucket(value: Any) -> BucketSpec:
    if isinstance(value, BucketSpec):
        return value
    if "window_s" in value:
        return BucketSpec.per_window(float(value["capacity"]), float(value["window_s"]))
    return BucketSpec(float(value["capacity"]), float(value["refill_per_s"]))


def _throttle_patch(current: ThrottleConfig, patch: Mapping[str, Any]) -> ThrottleConfig:
    updated = replace(current, compute={g: dict(b) for g, b in current.compute.items()})
    for key, value in patch.items():
        if key == "enabled":
            updated.enabled = bool(value)
        elif key in ("arm_reads", "arm_writes", "arm_deletes"):
            setattr(updated, key, _bucket(value))
        elif key == "compute":
            for group, buckets in value.items():
                updated.compute[group] = {name: _bucket(spec) for name, spec in buckets.items()}
        else:
            raise ValueError(f"unknown throttling key {key!r}")
    return updated


def _size_from_json(data: Mapping[str, Any]) -> VmSize:
    fields = dict(data)
    for key in ("locations", "restricted_locations", "zones", "ephemeral_placements"):
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    return VmSize(**fields)
