from __future__ import annotations

import azure.functions as func

from functions.http_responses import to_response
from runner_fleet import runtime

bp = func.Blueprint()


# Anonymous at the host: the forge's signature (GitHub) or token (GitLab) is the authentication.
@bp.route(route="github", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def github_webhook(req: func.HttpRequest) -> func.HttpResponse:
    outcome = await runtime.current().github_intake().handle(req.headers, req.get_body())
    return to_response(outcome)


@bp.route(route="gitlab", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def gitlab_webhook(req: func.HttpRequest) -> func.HttpResponse:
    outcome = await runtime.current().gitlab_intake().handle(req.headers, req.get_body())
    return to_response(outcome)
