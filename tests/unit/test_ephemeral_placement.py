"""Where an ephemeral OS disk goes: NvmeDisk, then ResourceDisk, then CacheDisk, where the size offers it."""

from __future__ import annotations

from dataclasses import dataclass

from runner_fleet.adapters.azure.skus import SizeFacts, facts_from_sku

GIB = 1024**3


@dataclass
class Capability:
    name: str
    value: str


@dataclass
class Sku:
    name: str
    capabilities: list[Capability]
    restrictions: list[object]


def sku(name: str, **caps: str) -> Sku:
    return Sku(name, [Capability(k, v) for k, v in caps.items()], [])


def test_nvme_is_chosen_where_the_size_lists_it() -> None:
    """A v6 size listing NvmeDisk with a 110 GiB NVMe disk gets NvmeDisk for a 64 GB OS disk."""
    facts = facts_from_sku(
        sku(
            "Standard_D2ads_v6",
            EphemeralOSDiskSupported="True",
            SupportedEphemeralOSDiskPlacements="NvmeDisk",
            NvmeDiskSizeInMiB=str(110 * 1024),
            MaxResourceVolumeMB="0",
            CachedDiskBytes="0",
        ),
        "westeurope",
    )
    assert facts.ephemeral_placement(64) == "NvmeDisk"
    assert facts.ephemeral_placement(120) is None


def test_nvme_capacity_without_the_placement_is_not_used() -> None:
    """An NVMe disk the SKU does not list as a placement is skipped (as for NC A100 v4 sizes)."""
    facts = facts_from_sku(
        sku(
            "Standard_NC24ads_A100_v4",
            EphemeralOSDiskSupported="True",
            SupportedEphemeralOSDiskPlacements="ResourceDisk,CacheDisk",
            NVMeDiskSizeInMiB="915527",
            MaxResourceVolumeMB=str(64 * 1024),
            CachedDiskBytes=str(256 * GIB),
        ),
        "westeurope",
    )
    assert facts.ephemeral_placement(64) == "ResourceDisk"
    assert facts.ephemeral_placement(200) == "CacheDisk"


def test_listed_placements_limit_the_choice() -> None:
    """A resource disk large enough is still not used when the SKU lists only CacheDisk."""
    facts = SizeFacts("s", True, 76800, 50 * GIB, False, placements=("CacheDisk",))
    assert facts.ephemeral_placement(40) == "CacheDisk"
    assert facts.ephemeral_placement(64) is None


def test_without_a_placement_list_the_disks_decide_and_nvme_is_never_assumed() -> None:
    """Older catalogues without SupportedEphemeralOSDiskPlacements: resource disk, then cache; no NVMe."""
    facts = SizeFacts("s", True, 76800, 50 * GIB, False, nvme_disk_mib=500 * 1024)
    assert facts.ephemeral_placement(64) == "ResourceDisk"
    assert SizeFacts("s", True, 0, 50 * GIB, False, nvme_disk_mib=500 * 1024).ephemeral_placement(64) is None


def test_no_ephemeral_support_means_a_managed_disk() -> None:
    """A size without ephemeral OS disk support never gets a placement."""
    assert SizeFacts("s", False, 76800, 50 * GIB, False).ephemeral_placement(30) is None
