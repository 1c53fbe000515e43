"""The App webhook's delivery log: list, inspect, and ask for a redelivery (App JWT auth)."""

from __future__ import annotations

from aiohttp import web

from simulator.github.auth import bearer
from simulator.github.context import SimContext
from simulator.github.pagination import cursor_page
from simulator.github.representations import delivery_detail_json, delivery_summary_json
from simulator.github.wire import int_param
from simulator.http import json_response


class DeliveryRoutes:
    def __init__(self, ctx: SimContext) -> None:
        self._ctx = ctx

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/app/hook/deliveries", self.list_deliveries),
            web.get("/app/hook/deliveries/{delivery_id}", self.get_delivery),
            web.post("/app/hook/deliveries/{delivery_id}/attempts", self.redeliver),
        ]

    async def list_deliveries(self, request: web.Request) -> web.Response:
        self._ctx.app_jwt.verify(bearer(request))
        deliveries = list(reversed(self._ctx.webhooks.deliveries()))
        wanted = request.query.get("status")
        if wanted == "success":
            deliveries = [d for d in deliveries if d.succeeded]
        elif wanted == "failure":
            deliveries = [d for d in deliveries if not d.succeeded]
        page, headers = cursor_page(request, deliveries, lambda d: d.id)
        return json_response([delivery_summary_json(d) for d in page], headers=headers)

    async def get_delivery(self, request: web.Request) -> web.Response:
        self._ctx.app_jwt.verify(bearer(request))
        delivery = self._ctx.webhooks.delivery(int_param(request, "delivery_id"))
        return json_response(delivery_detail_json(delivery))

    async def redeliver(self, request: web.Request) -> web.Response:
        self._ctx.app_jwt.verify(bearer(request))
        self._ctx.webhooks.redeliver(int_param(request, "delivery_id"))
        return json_response({}, status=202)
