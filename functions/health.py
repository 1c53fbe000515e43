from __future__ import annotations

import json

import azure.functions as func

from runner_fleet import runtime

bp = func.Blueprint()

# Anyone on the Internet can call this: it says the app is up and nothing else (no version to match
# against advisories, no pool names mapping the private clusters behind it).
_BODY = json.dumps({"status": "ok"})


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    runtime.current()  # "ok" means the service's runtime could be built from its settings
    return func.HttpResponse(_BODY, status_code=200, mimetype="application/json")
