"""`location`: the pool's location is where its VNet is (a NIC must be in its VNet's region) and it
offers VM sizes to the subscription. `vm-sizes`: the configured sizes are offered there. `image`:
the configured marketplace image exists there (custom image IDs are validated at VM creation)."""

from __future__ import annotations

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.common import failed, passed, unreadable, warned
from runner_fleet.preflight.topology import PoolTopology
from runner_fleet.settings.pool import Pool

LOCATION = "location"
SIZES = "vm-sizes"
IMAGE = "image"


def _same_region(a: str, b: str) -> bool:
    return a.replace(" ", "").lower() == b.replace(" ", "").lower()


def check_location(pool: Pool, topology: PoolTopology) -> CheckResult | None:
    azure = pool.azure
    vnet = topology.runner_vnet.value
    if vnet is not None and vnet.location and not _same_region(vnet.location, azure.location):
        return failed(
            LOCATION,
            vnet.id,
            f"{vnet.name} is in {vnet.location} but the pool creates VMs in {azure.location}: "
            "a VM's NIC must be in its VNet's region",
            f"set azure.location to {vnet.location}, or use a subnet in {azure.location}",
        )
    sizes = topology.sizes
    if sizes is not None and sizes.value is not None and not sizes.value:
        return failed(
            LOCATION,
            sizes.resource,
            f"{azure.location} offers no VM sizes to subscription {azure.subscription_id}",
            "check azure.location (az account list-locations -o table)",
        )
    where = f"{vnet.name} is in {vnet.location}" if vnet is not None else "VNet not read"
    return passed(
        LOCATION, sizes.resource if sizes is not None else azure.location, f"{azure.location}; {where}"
    )


def check_sizes(pool: Pool, topology: PoolTopology) -> CheckResult | None:
    found = topology.sizes
    if found is None:
        return None
    if found.error is not None:
        return unreadable(SIZES, found, "resource SKUs of")
    offers = found.value or {}
    if not offers:
        return None  # `location` says the location offers nothing
    location = pool.azure.location
    missing: list[str] = []
    for size in pool.azure.vm_sizes:
        offer = offers.get(size.lower())
        if offer is None:
            missing.append(f"{size} (not offered in {location})")
        elif offer.restriction is not None:
            missing.append(f"{size} ({offer.restriction})")
    usable = [s for s in pool.azure.vm_sizes if offers.get(s.lower()) and not offers[s.lower()].restriction]
    if not usable:
        return failed(
            SIZES,
            found.resource,
            f"none of the pool's VM sizes can be used in {location}: {'; '.join(missing)}",
            f"choose sizes from: az vm list-skus -l {location} --resource-type virtualMachines",
        )
    if missing:
        return warned(
            SIZES,
            found.resource,
            f"{'; '.join(missing)}; runners fall back to {', '.join(usable)}",
            "remove the unavailable sizes from azure.vm_sizes, or request access for the subscription",
        )
    return passed(SIZES, found.resource, f"{', '.join(pool.azure.vm_sizes)} offered in {location}")


def check_image(pool: Pool, topology: PoolTopology) -> CheckResult | None:
    found = topology.image
    if found is None:
        return None
    if found.error is not None:
        return unreadable(IMAGE, found, "image")
    image = found.value
    if image is None or not image.checked:
        return passed(
            IMAGE, pool.azure.image, "custom image: validated by Resource Manager when a VM is created"
        )
    if not image.found:
        publisher, offer, sku, _ = pool.azure.image.split(":")
        return failed(
            IMAGE,
            pool.azure.image,
            f"marketplace image {pool.azure.image} is not offered in {pool.azure.location}",
            f"pick one from: az vm image list -l {pool.azure.location} -p {publisher} -f {offer} "
            f"-s {sku} --all",
        )
    return passed(IMAGE, pool.azure.image, f"{pool.azure.image} -> version {image.resolved_version}")
