"""The Function App: builds the app and registers the blueprints. Everything else lives in runner_fleet."""

import azure.functions as func

from functions import health, queues, timers, webhooks
from runner_fleet import runtime

runtime.startup_check()

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (webhooks.bp, queues.bp, timers.bp, health.bp):
    app.register_functions(blueprint)
