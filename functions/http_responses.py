from __future__ import annotations

import json

import azure.functions as func

from runner_fleet.usecases.outcome import WebhookOutcome


def to_response(outcome: WebhookOutcome) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(outcome.body), status_code=outcome.status, mimetype="application/json"
    )
