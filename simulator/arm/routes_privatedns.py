"""Microsoft.Network/privateDnsZones: zones, A record sets and virtual network links.

Creating a link is long-running as in Azure: the PUT answers 202 with `Azure-AsyncOperation`
(`privateDnsOperationStatuses`) and `Location` (`privateDnsOperationResults`); the link reads
`virtualNetworkLinkState: InProgress` until the operation ends, then `Completed`. A PUT with
`If-None-Match: *` never replaces an existing link (412), which is how a careful fixer creates one.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from aiohttp import web

from simulator.arm.errors import ArmError, resource_not_found
from simulator.arm.ids import ResourceId
from simulator.arm.json_fields import json_object
from simulator.arm.operations import AsyncOperation
from simulator.arm.paging import page
from simulator.arm.resource_types import A_RECORD_TYPE, LINK_TYPE, VNET_TYPE, ZONE_TYPE
from simulator.arm.routing import ArmCall, Router, json_response
from simulator.arm.seeding import put_link
from simulator.arm.state import ArmState
from simulator.arm.store import Resource

SUB = "/subscriptions/{sub}"
RG = SUB + "/resourceGroups/{rg}"
ZONES = RG + "/providers/Microsoft.Network/privateDnsZones"
ZONE = ZONES + "/{zone}"
LINKS = ZONE + "/virtualNetworkLinks"
OPERATIONS = RG + "/providers/Microsoft.Network"


def render_zone(state: ArmState, zone: Resource) -> dict[str, Any]:
    body = copy.deepcopy(zone.body)
    body["etag"] = zone.etag
    links = state.store.list(LINK_TYPE, parent=zone.id)
    props = body.setdefault("properties", {})
    props["numberOfRecordSets"] = 1 + len(state.store.list(A_RECORD_TYPE, parent=zone.id))  # + the SOA
    props["numberOfVirtualNetworkLinks"] = len(links)
    props["numberOfVirtualNetworkLinksWithRegistration"] = sum(
        bool(link.properties.get("registrationEnabled")) for link in links
    )
    return body


def _render(resource: Resource) -> dict[str, Any]:
    body = copy.deepcopy(resource.body)
    body["etag"] = resource.etag
    return body


class _PrivateDns:
    def __init__(self, state: ArmState) -> None:
        self.state = state
        self.store = state.store

    def zone_of(self, call: ArmCall) -> Resource:
        p = call.params
        self.state.require_resource_group(p["sub"], p["rg"])
        found = self.store.get(
            ResourceId.resource(p["sub"], p["rg"], "Microsoft.Network", "privateDnsZones", p["zone"])
        )
        if found is None:
            raise resource_not_found(ZONE_TYPE, p["zone"], p["rg"])
        return found

    def child(self, call: ArmCall, kind: str, type_name: str) -> Resource:
        zone = self.zone_of(call)
        found = self.store.get(zone.id.child(kind, call.params["name"]))
        if found is None:
            raise resource_not_found(type_name, f"{zone.id.name}/{call.params['name']}", call.params["rg"])
        return found

    def children(self, call: ArmCall, type_name: str) -> web.StreamResponse:
        zone = self.zone_of(call)
        items = [(r.id.key, _render(r)) for r in self.store.list(type_name, parent=zone.id)]
        return json_response(200, page(call, items, self.state.config.page_size))

    async def get_zone(self, call: ArmCall) -> web.StreamResponse:
        return json_response(200, render_zone(self.state, self.zone_of(call)))

    async def list_zones(self, call: ArmCall) -> web.StreamResponse:
        sub, rg = call.params["sub"], call.params.get("rg")
        if rg is None:
            self.state.require_subscription(sub)
        else:
            self.state.require_resource_group(sub, rg)
        found = self.store.list(ZONE_TYPE, subscription=sub, resource_group=rg)
        items = [(z.id.key, render_zone(self.state, z)) for z in found]
        return json_response(200, page(call, items, self.state.config.page_size))

    async def get_record(self, call: ArmCall) -> web.StreamResponse:
        return json_response(200, _render(self.child(call, "A", A_RECORD_TYPE)))

    async def list_records(self, call: ArmCall) -> web.StreamResponse:
        return self.children(call, A_RECORD_TYPE)

    async def get_link(self, call: ArmCall) -> web.StreamResponse:
        return json_response(200, _render(self.child(call, "virtualNetworkLinks", LINK_TYPE)))

    async def list_links(self, call: ArmCall) -> web.StreamResponse:
        return self.children(call, LINK_TYPE)

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
            return json_response(200, _render(existing))
        put_link(
            self.store,
            zone.id,
            {
                "name": name,
                "location": "global",
                "tags": body.get("tags") or {},
                "properties": {
                    **body["properties"],
                    "virtualNetworkLinkState": "InProgress",
                    "provisioningState": "Creating",
                },
            },
        )
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

    def operation(self, call: ArmCall) -> AsyncOperation:
        op = self.state.ops.get(call.params["op"])
        if op is None or op.subscription.lower() != call.params["sub"].lower():
            raise ArmError(404, "NotFound", f"The operation '{call.params['op']}' was not found.")
        return op

    async def operation_status(self, call: ArmCall) -> web.StreamResponse:
        op = self.operation(call)
        return json_response(200, op.body(), {} if op.done else _retry_after(self.state))

    async def operation_result(self, call: ArmCall) -> web.StreamResponse:
        op = self.operation(call)
        if not op.done:
            return json_response(202, None, {**_retry_after(self.state), "Location": str(call.request.url)})
        if op.status != "Succeeded" and op.error is not None:
            raise ArmError(500, op.error["code"], op.error["message"])
        found = self.store.get(op.resource_id)
        return json_response(200, _render(found) if found is not None else None)


def register(router: Router, state: ArmState) -> None:
    dns = _PrivateDns(state)
    ops = "Microsoft.Network/privateDnsOperation"
    router.add("GET", ZONES, dns.list_zones, resource_type=ZONE_TYPE)
    router.add(
        "GET", SUB + "/providers/Microsoft.Network/privateDnsZones", dns.list_zones, resource_type=ZONE_TYPE
    )
    router.add("GET", ZONE, dns.get_zone, resource_type=ZONE_TYPE)
    router.add("GET", LINKS, dns.list_links, resource_type=LINK_TYPE)
    router.add("GET", LINKS + "/{name}", dns.get_link, resource_type=LINK_TYPE)
    router.add("PUT", LINKS + "/{name}", dns.put_link, resource_type=LINK_TYPE)
    router.add("DELETE", LINKS + "/{name}", dns.delete_link, resource_type=LINK_TYPE)
    router.add("GET", ZONE + "/A", dns.list_records, resource_type=A_RECORD_TYPE)
    router.add("GET", ZONE + "/A/{name}", dns.get_record, resource_type=A_RECORD_TYPE)
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
    """Azure sends whole seconds; the millisecond hint lets fast simulated time poll faster."""
    real = state.clock.real(state.config.timing.poll_interval_s)
    return {
        "Retry-After": str(max(1, math.ceil(real))),
        "retry-after-ms": str(max(1, math.ceil(real * 1000))),
    }


def _operation_headers(state: ArmState, call: ArmCall, op: AsyncOperation) -> dict[str, str]:
    p = call.params
    base = f"{call.base_url}/subscriptions/{p['sub']}/resourceGroups/{p['rg']}/providers/Microsoft.Network"
    query = f"?api-version={call.api_version}"
    return {
        "Azure-AsyncOperation": f"{base}/privateDnsOperationStatuses/{op.id}{query}",
        "Location": f"{base}/privateDnsOperationResults/{op.id}{query}",
        **_retry_after(state),
    }
