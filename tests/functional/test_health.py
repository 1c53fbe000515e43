"""`GET /api/health`: anonymous callers learn that the app is up, and nothing more."""

from __future__ import annotations

import json

import azure.functions as func

from runner_fleet import __version__, runtime
from runner_fleet.host.index import index_app


async def test_health_answers_only_ok_to_an_anonymous_caller(installed: runtime.Runtime) -> None:
    """200 with exactly {"status": "ok"}: no version, no pool names, whatever the caller sends."""
    [route] = [f for f in index_app().http if f.route == "health"]
    request = func.HttpRequest(
        "GET",
        "http://localhost/api/health",
        headers={"x-functions-key": "guess"},
        params={"verbose": "1"},
        body=b"",
    )
    response = await route.handler(request)
    body = response.get_body().decode()
    assert (response.status_code, response.mimetype, json.loads(body)) == (
        200,
        "application/json",
        {"status": "ok"},
    )
    assert __version__ not in body and "aks-prod" not in body
