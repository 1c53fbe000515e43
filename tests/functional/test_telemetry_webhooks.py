"""The webhook functions' telemetry: what they count, and that without an exporter it costs no import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import azure.functions as func

from runner_fleet import runtime
from runner_fleet.host.index import index_app
from tests.builders import event, signed
from tests.telemetry import recording

ROOT = Path(__file__).resolve().parents[2]


def _github_webhook() -> Any:
    return next(f.handler for f in index_app().http if f.name == "github_webhook")


def _request(headers: dict[str, str], body: bytes) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/github", headers=headers, params={}, body=body)


async def test_webhooks_are_counted_accepted_by_queue_and_rejected_by_reason(
    installed: runtime.Runtime,
) -> None:
    """A queued job is accepted for the provision queue; a bad signature, a malformed body and a body
    over 1 MiB are rejected as bad-signature, malformed and too-large; a ping is neither."""
    handler = _github_webhook()
    with recording() as recorded:
        assert (await handler(_request(*signed(event("workflow_job.queued.json"))))).status_code == 202
        headers, body = signed(event("workflow_job.queued.json"))
        assert (
            await handler(_request(headers | {"X-Hub-Signature-256": "sha256=00"}, body))
        ).status_code == 401
        assert (await handler(_request(*signed(b"{not json")))).status_code == 400
        assert (await handler(_request(*signed(b" " * (1024 * 1024 + 1))))).status_code == 413
        assert (await handler(_request(*signed(event("ping.json"), event_name="ping")))).status_code == 200
        accepted = {
            tuple(p.attributes.values()): p.value for p in recorded.points("runner_fleet.webhooks.accepted")
        }
        rejected = {
            p.attributes["reason"]: p.value for p in recorded.points("runner_fleet.webhooks.rejected")
        }
    assert accepted == {("github", "provision"): 1}
    assert rejected == {"bad-signature": 1, "malformed": 1, "too-large": 1}


_PROBE = """
import asyncio, json, sys
sys.path.insert(0, {root!r})
from runner_fleet import runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.settings import load_service_settings
from tests.builders import WEBHOOK_SECRET, event, make_pool, signed
settings = load_service_settings({{"GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "GITHUB_TOKEN": "t" * 40}})
runtime.install(runtime.Runtime(settings, (make_pool(),), MemoryWorkQueue(), MemoryStateTable(), None, {{}}))
import azure.functions as func
import function_app
handler = next(f.get_user_function() for f in function_app.app.get_functions()
               if f.get_function_name() == "github_webhook")
headers, body = signed(event("workflow_job.queued.json"))
request = func.HttpRequest("POST", "http://x/api/github", headers=headers, params={{}}, body=body)
status = asyncio.run(handler(request)).status_code
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor")))
print(json.dumps({{"status": status, "loaded": loaded}}))
"""


def test_without_an_exporter_the_webhook_path_imports_no_opentelemetry() -> None:
    """Loading the function app and answering a webhook, with no exporter configured, imports neither
    OpenTelemetry nor the Azure Monitor distro: the instrumentation is a flag test per event."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(root=str(ROOT))],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": ""},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"status": 202, "loaded": []}


def test_the_overhead_benchmark_reports_import_and_answer_times_per_mode() -> None:
    """bench/telemetry_overhead.py prints one JSON object: per mode the import time of the function
    app, the webhook answer times, and whether importing the app loaded OpenTelemetry."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "telemetry_overhead.py"),
            "--json",
            "--modes",
            "off,otlp",
            "--imports",
            "2",
            "--webhooks",
            "30",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert set(result["modes"]) == {"off", "otlp"}
    for figures in result["modes"].values():
        assert figures["import_function_app_ms"]["runs"] == 2
        assert figures["webhook_answer_ms"]["answers"] > 0
    # Without an exporter the app loads no OpenTelemetry; with one, its start-up configures it.
    assert [result["modes"][mode]["opentelemetry_loaded_by_import"] for mode in ("off", "otlp")] == [
        False,
        True,
    ]
    assert result["otlp_exports_received"] >= 1  # the otlp mode's exports reached the loopback sink
