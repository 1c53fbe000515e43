"""Run in a fresh interpreter by a test: load function_app, answer one webhook, print what got imported."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from runner_fleet import runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.settings import load_service_settings
from tests.builders import WEBHOOK_SECRET, event, make_pool, signed

SLOW_PACKAGES = ("azure.mgmt", "azure.identity", "github")


def _refuse() -> Any:
    raise AssertionError("a management or forge client was built on the webhook path")


def main() -> None:
    settings = load_service_settings({"GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "GITHUB_TOKEN": "t" * 40})
    rt = runtime.Runtime(
        settings, (make_pool(),), MemoryWorkQueue(), MemoryStateTable(), _refuse, {"github": _refuse}
    )
    runtime.install(rt)
    import azure.functions as func

    import function_app

    handler = next(
        f.get_user_function()
        for f in function_app.app.get_functions()
        if f.get_function_name() == "github_webhook"
    )
    headers, body = signed(event("workflow_job.queued.json"))
    request = func.HttpRequest("POST", "http://x/api/github", headers=headers, params={}, body=body)
    response = asyncio.run(handler(request))
    loaded = sorted(m for m in sys.modules if m.startswith(SLOW_PACKAGES))
    print(json.dumps({"status": response.status_code, "loaded": loaded}))


if __name__ == "__main__":
    main()
