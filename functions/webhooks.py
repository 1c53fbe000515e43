from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import azure.functions as func

from functions.http_responses import to_response
from runner_fleet import runtime
from runner_fleet.logs import get_logger
from runner_fleet.telemetry import metrics
from runner_fleet.usecases.outcome import WebhookOutcome

bp = func.Blueprint()
log = get_logger("webhook")


class _Intake(Protocol):
    async def handle(self, raw_headers: object, body: bytes) -> WebhookOutcome: ...


async def _answer(
    forge: str, req: func.HttpRequest, intake: Callable[[runtime.Runtime], _Intake]
) -> func.HttpResponse:
    try:
        outcome = await intake(runtime.current()).handle(req.headers, req.get_body())
    except Exception:
        # Raised on, the worker would report the exception's own text, unscrubbed; logged here it is
        # masked first, and the forge learns nothing from the answer.
        log.exception("webhook.failed", forge=forge)
        outcome = WebhookOutcome(500, "internal error")
    metrics.webhook_answered(forge, outcome.status, outcome.reason, outcome.queued)
    return to_response(outcome)


# Anonymous at the host: the forge's signature (GitHub) or token (GitLab) is the authentication.
@bp.route(route="github", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def github_webhook(req: func.HttpRequest) -> func.HttpResponse:
    return await _answer("github", req, lambda rt: rt.github_intake())


@bp.route(route="gitlab", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def gitlab_webhook(req: func.HttpRequest) -> func.HttpResponse:
    return await _answer("gitlab", req, lambda rt: rt.gitlab_intake())
