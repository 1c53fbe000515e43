"""Microsoft.Network/privateDnsZones: writing virtual network links (reading zones, A record sets and
links: `routes_resources`).

Creating a link is long-running as in Azure: the PUT answers 202 with `Azure-AsyncOperation`
(`privateDnsOperationStatuses`) and `Location` (`privateDnsOperationResults`); the link reads
`virtualNetworkLinkState: InProgress` until the operation ends, then `Completed`. A PUT with
`If-None-Match: *` never replaces an existing link (412), which is how a careful fixer creates one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.arm.errors import ArmError, json_object, retry_after
from simulator.arm.ids import ResourceId
from simulator.arm.network import render_plain
from simulator.arm.operations import AsyncOperation
from simulator.arm.routing import ArmCall, Router, json_response
from simulator.arm.seeding import put_link
from simulator.arm.state import ArmState
from simulator.arm.store import LINK_TYPE, VNET_TYPE, Resource

RG = "/subscriptions/{sub}/resourceGroups/{rg}"
LINKS = RG + "/providers/Microsoft.Network/privateDnsZones/{zone}/virtualNetworkLinks"
OPERATIONS = RG + "/providers/Microsoft.Network"


class _PrivateDns:
    def __init__(self, state: ArmState) -> None:
        self.state = state
        self.store = state.store

    def zone_of(self, call: ArmCall) -> Resource:
        p = call.params
        return self.state.require_resource(
            ResourceId.resource(p["sub"], p["rg"], "Microsoft.Network", "privateDnsZones", p["zone"])
        )

    async def put_link(self, call: ArmCall) -> web.StreamResponse:
        zone = self.zone_of(call)
        name = call.params["name"]
        rid = zone.id.child("virtualNetworkLinks", name)
        existing = self.store.get(rid)
        if existing is not None and call.request.headers.get("If-None-Match", "").strip() == "*":
            raise ArmError(
                412,
                "PreconditionFailed",
                f"The resource '{name}' already exists in private DNS zone '{zone.id.name}'.",
            )
        body = _validated_link(self.state, zone, rid, call.json())
        if existing is not None:
            existing.body["tags"] = body.get("tags") or existing.body.get("tags", {})
            existing.properties["registrationEnabled"] = body["properties"]["registrationEnabled"]
            self.store.touch(existing)
            return json_response(200, render_plain(existing))
        properties = {
            **body["properties"],
            "virtualNetworkLinkState": "InProgress",
            "provisioningState": "Creating",
        }
        put_link(self.store, zone.id, name, properties, tags=body.get("tags") or {})
        op = self.state.ops.start(
            subscription=zone.id.subscription,
            location="global",
            namespace="Microsoft.Network",
            kind="link",
            resource_id=str(rid),
        )
        self.state.spawn(_complete_link(self.state, rid, op))
        return json_response(202, None, _operation_headers(self.state, call, op))

    async def delete_link(self, call: ArmCall) -> web.StreamResponse:
        zone = self.zone_of(call)
        found = self.store.get(zone.id.child("virtualNetworkLinks", call.params["name"]))
        if found is None:
            return json_response(204, None)
        self.store.delete(found.id)
        return json_response(200, None)

    async def operation_status(self, call: ArmCall) -> web.StreamResponse:
        op = self.state.operation(call.params["sub"], call.params["op"])
        return json_response(200, op.body(), {} if op.done else _retry_after(self.state))

    async def operation_result(self, call: ArmCall) -> web.StreamResponse:
        op = self.state.operation(call.params["sub"], call.params["op"])
        if not op.done:
            return json_response(202, None, {**_retry_after(self.state), "Location": str(call.request.url)})
        if op.status != "Succeeded" and op.error is not None:
            raise ArmError(500, op.error["code"], op.error["message"])
        found = self.store.get(op.resource_id)
        return json_response(200, render_plain(found) if found is not None else None)


def register(router: Router, state: ArmState) -> None:
    dns = _PrivateDns(state)
    ops = "Microsoft.Network/privateDnsOperation"
    router.add("PUT", LINKS + "/{name}", dns.put_link, resource_type=LINK_TYPE)
    router.add("DELETE", LINKS + "/{name}", dns.delete_link, resource_type=LINK_TYPE)
    router.add(
        "GET",
        OPERATIONS + "/privateDnsOperationStatuses/{op}",
        dns.operation_status,
        resource_type=ops + "Statuses",
    )
    router.add(
        "GET",
        OPERATIONS + "/privateDnsOperationResults/{op}",
        dns.operation_result,
        resource_type=ops + "Results",
    )


def _validated_link(state: ArmState, zone: Resource, rid: ResourceId, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ArmError(
            400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
        )
    location = str(body.get("location") or "")
    if location.lower() != "global":
        raise ArmError(
            400,
            "LocationNotAvailableForResourceType",
            f"The provided location '{location}' is not available for resource type '{LINK_TYPE}'. "
            "List of available regions for the resource type is 'global'.",
        )
    props = json_object(body.get("properties"), "properties")
    vnet_ref = json_object(props.get("virtualNetwork"), "properties.virtualNetwork").get("id")
    if not vnet_ref:
        raise ArmError(400, "BadRequest", "The virtual network link must reference a virtual network.")
    try:
        vnet_rid = ResourceId.parse(str(vnet_ref))
    except ValueError:
        raise ArmError(400, "BadRequest", f"'{vnet_ref}' is not a virtual network resource ID.") from None
    vnet = state.store.get(vnet_rid)
    if vnet is None or vnet.type.lower() != VNET_TYPE.lower():
        raise ArmError(400, "BadRequest", f"Virtual network resource not found for '{vnet_ref}'.")
    existing = state.store.get(rid)
    if existing is not None and not vnet.id.same_as(existing.properties["virtualNetwork"]["id"]):
        raise ArmError(400, "BadRequest", "The virtual network of an existing link cannot be changed.")
    for link in state.store.list(LINK_TYPE, parent=zone.id):
        if link.id.key != rid.key and vnet.id.same_as(
            link.properties.get("virtualNetwork", {}).get("id", "")
        ):
            raise ArmError(
                409,
                "Conflict",
                f"Virtual network '{vnet.id}' is already linked to private DNS zone '{zone.id.name}' "
                f"by link '{link.id.name}'.",
            )
    return {
        "tags": body.get("tags"),
        "properties": {
            "virtualNetwork": {"id": str(vnet.id)},
            "registrationEnabled": bool(props.get("registrationEnabled", False)),
            "resolutionPolicy": props.get("resolutionPolicy", "Default"),
        },
    }


async def _complete_link(state: ArmState, rid: ResourceId, op: AsyncOperation) -> None:
    await state.clock.sleep(state.config.timing.link_s)
    link = state.store.get(rid)
    if link is None:
        op.fail("NotFound", "The virtual network link was deleted while it was being created.")
        return
    link.properties["virtualNetworkLinkState"] = "Completed"
    link.properties["provisioningState"] = "Succeeded"
    state.store.touch(link)
    op.succeed()


def _retry_after(state: ArmState) -> dict[str, str]:
    return retry_after(state.clock, state.config.timing.poll_interval_s)


def _operation_headers(state: ArmState, call: ArmCall, op: AsyncOperation) -> dict[str, str]:
    p = call.params
    base = f"{call.base_url}/subscriptions/{p['sub']}/resourceGroups/{p['rg']}/providers/Microsoft.Network"
    query = f"?api-version={call.api_version}"
    return {
        "Azure-AsyncOperation": f"{base}/privateDnsOperationStatuses/{op.id}{query}",
        "Location": f"{base}/privateDnsOperationResults/{op.id}{query}",
        **_retry_after(state),
    }
