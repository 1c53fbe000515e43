"""What telemetry costs the webhook path: import time of the function app and a webhook's answer time.

    .venv/bin/python bench/telemetry_overhead.py [--imports 15] [--webhooks 2000] [--json]

Three modes, each in fresh interpreters: `off` (no exporter configured: what every deployment without
APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_EXPORTER_OTLP_ENDPOINT runs), `sdk` (the OpenTelemetry
SDK recording every instrument and span, read by in-memory readers: the cost of instrumenting,
without the network) and, with `--otlp`, `otlp` (the OTLP/HTTP exporters configured from the
environment against a sink on loopback). Import time is a cold `import function_app`, start-up
check included (which configures the exporter when one is set, as at the Functions host's start);
answer time is the GitHub webhook function answering signed `queued` events (each a new delivery,
so each is enqueued) on the in-memory queue and state table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Run in a child interpreter: set the mode up, import function_app (timed), answer webhooks (timed).
_CHILD = r"""
import time
started = time.perf_counter()
import function_app  # cold: the runner_fleet core, azure.functions and the blueprints
import_s = time.perf_counter() - started
import asyncio, json, sys
sys.path.insert(0, {root!r})
mode, webhooks = {mode!r}, {webhooks}
loaded_by_import = any(m.startswith("opentelemetry") for m in sys.modules)
if mode == "sdk":
    from runner_fleet.telemetry import provider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    provider.use(MeterProvider(metric_readers=[InMemoryMetricReader()]), tracer_provider)
elif mode == "otlp":
    from runner_fleet.telemetry.setup import configured
    assert configured() == "otlp"  # by function_app's start-up, within the import timed above
from runner_fleet import runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.settings import load_pools, load_service_settings
from tests.builders import event, signed
settings = load_service_settings()
storage = MemoryWorkQueue(), MemoryStateTable()
runtime.install(runtime.Runtime(settings, load_pools(settings), *storage, None, {{}}))
import azure.functions as func
handler = next(f.get_user_function() for f in function_app.app.get_functions()
               if f.get_function_name() == "github_webhook")
payload = event("workflow_job.queued.json")
requests = []
for i in range(webhooks):
    headers, body = signed(payload, delivery=f"bench-{{i}}")
    requests.append(func.HttpRequest("POST", "http://x/api/github", headers=headers, params={{}}, body=body))

async def answer_all():
    times = []
    for request in requests:
        t = time.perf_counter()
        response = await handler(request)
        times.append(time.perf_counter() - t)
        assert response.status_code == 202, response.get_body()
    return times

times = asyncio.run(answer_all())
print(json.dumps({{"import_s": import_s, "answer_s": times,
                   "otel_loaded_by_import": loaded_by_import}}))
"""


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector stand-in on loopback: takes every export and answers 200."""

    received: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Sink.received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def _child(mode: str, webhooks: int, env: dict[str, str]) -> dict[str, Any]:
    code = _CHILD.format(root=str(ROOT), mode=mode, webhooks=webhooks)
    done = subprocess.run(  # noqa: S603 - this interpreter, running the code above
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def measure(mode: str, *, imports: int, webhooks: int, env: dict[str, str]) -> dict[str, Any]:
    import_times: list[float] = []
    answers: list[float] = []
    otel_by_import = False
    for i in range(imports):
        run = _child(mode, webhooks if i == 0 else 1, env)
        import_times.append(run["import_s"])
        otel_by_import = otel_by_import or run["otel_loaded_by_import"]
        if i == 0:
            # The first answers warm caches (the runtime's intakes, pydantic's validators).
            answers = run["answer_s"][min(100, len(run["answer_s"]) // 10) :]
    figures: dict[str, Any] = {
        "import_function_app_ms": {
            "median": round(1000 * statistics.median(import_times), 2),
            "min": round(1000 * min(import_times), 2),
            "runs": imports,
        },
        "webhook_answer_ms": {
            "median": _ms(answers, 0.5),
            "p95": _ms(answers, 0.95),
            "p99": _ms(answers, 0.99),
            "answers": len(answers),
        },
        # Whether importing function_app loaded any OpenTelemetry module (not without an exporter;
        # with one, the app's start-up configures it, and the import time includes that).
        "opentelemetry_loaded_by_import": otel_by_import,
    }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--imports", type=int, default=15, help="fresh interpreters per mode (import time)")
    parser.add_argument("--webhooks", type=int, default=2000, help="webhooks answered per mode")
    parser.add_argument("--modes", default="off,sdk", help="comma-separated: off, sdk, otlp")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # run as a script: the project's packages resolve from its root
    from tests.builders import WEBHOOK_SECRET, pool_dict

    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "RUNNER_POOLS", "GITHUB_", "GITLAB_"))
    }
    # What function_app's start-up check reads: one GitHub pool and its credentials.
    base |= {
        "RUNNER_POOLS": json.dumps([pool_dict()]),
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GITHUB_TOKEN": "t" * 40,
        "PYTHONPATH": str(ROOT),
    }
    results: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "modes": {}}
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            env = dict(base)
            if mode == "otlp":
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink.server_address[1]}"
            print(f"measuring {mode} ...", file=sys.stderr)
            results["modes"][mode] = measure(mode, imports=args.imports, webhooks=args.webhooks, env=env)
    finally:
        sink.shutdown()
    results["otlp_exports_received"] = len(_Sink.received)
    if args.json:
        print(json.dumps(results))
    else:
        for mode, figures in results["modes"].items():
            imp, ans = figures["import_function_app_ms"], figures["webhook_answer_ms"]
            print(
                f"{mode:5} import function_app {imp['median']:7.2f} ms (median of {imp['runs']})  "
                f"webhook answer median {ans['median']:.3f} ms, p95 {ans['p95']:.3f}, p99 {ans['p99']:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
