"""The aiohttp application: `/_sim/...` control routes, everything else through the front door."""

from __future__ import annotations

from aiohttp import web

from simulator.arm import control, routes_compute, routes_images, routes_privatedns, routes_resources
from simulator.arm.frontdoor import FrontDoor
from simulator.arm.routing import Router
from simulator.arm.state import ArmState

MAX_BODY_BYTES = 4 * 1024 * 1024


def build_router(state: ArmState) -> Router:
    router = Router()
    routes_compute.register(router, state)
    routes_resources.register(router, state)
    routes_privatedns.register(router, state)
    routes_images.register(router, state)
    return router


def build_app(state: ArmState) -> web.Application:
    front_door = FrontDoor(state, build_router(state))
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    control.register(app, state)
    app.router.add_route("*", "/{tail:.*}", front_door.handle)
    return app
