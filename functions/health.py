from __future__ import annotations

import json

import azure.functions as func

from runner_fleet import __version__, runtime

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    pools = [pool.name for pool in runtime.current().pools]
    body = {"status": "ok", "version": __version__, "pools": pools}
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
