"""Marketplace images: `.../publishers/{p}/artifacttypes/vmimage/offers/{o}/skus/{s}/versions`.

The list answers a bare JSON array (as Azure does) and honours `$top` and `$orderby=name desc`, which
is how a client finds what `latest` means.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.arm.config import ImageSpec
from simulator.arm.errors import ArmError
from simulator.arm.routing import ArmCall, Router, json_response
from simulator.arm.state import ArmState

VERSIONS = (
    "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/publishers/{publisher}"
    "/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions"
)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def register(router: Router, state: ArmState) -> None:
    def image(call: ArmCall) -> ImageSpec:
        p = call.params
        state.require_subscription(p["sub"])
        for spec in state.config.images:
            if (spec.publisher.lower(), spec.offer.lower(), spec.sku.lower()) == (
                p["publisher"].lower(),
                p["offer"].lower(),
                p["sku"].lower(),
            ) and spec.offered_in(p["loc"], state.locations):
                return spec
        raise ArmError(404, "NotFound", "Artifact: VMImage was not found.")

    def entry(call: ArmCall, spec: ImageSpec, version: str) -> dict[str, Any]:
        p = call.params
        return {
            "name": version,
            "location": p["loc"],
            "id": (
                f"/Subscriptions/{p['sub']}/Providers/Microsoft.Compute/Locations/{p['loc']}/Publishers/"
                f"{spec.publisher}/ArtifactTypes/VMImage/Offers/{spec.offer}/Skus/{spec.sku}/Versions/{version}"
            ),
        }

    async def list_versions(call: ArmCall) -> web.StreamResponse:
        spec = image(call)
        versions = sorted(spec.versions, key=_version_key)
        if "desc" in (call.query("$orderby") or "").lower():
            versions.reverse()
        top = call.query("$top")
        if top:
            versions = versions[: max(0, int(top))]
        return json_response(200, [entry(call, spec, v) for v in versions])

    async def get_version(call: ArmCall) -> web.StreamResponse:
        spec = image(call)
        wanted = call.params["version"]
        if wanted.lower() == "latest":
            wanted = max(spec.versions, key=_version_key)
        if wanted not in spec.versions:
            raise ArmError(404, "NotFound", "Artifact: VMImage was not found.")
        body = entry(call, spec, wanted) | {
            "properties": {
                "osDiskImage": {"operatingSystem": "Linux", "sizeInGb": 30},
                "hyperVGeneration": "V2",
                "architecture": "x64",
                "dataDiskImages": [],
            }
        }
        return json_response(200, body)

    images = "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions"
    router.add("GET", VERSIONS, list_versions, resource_type=images)
    router.add("GET", VERSIONS + "/{version}", get_version, resource_type=images)
