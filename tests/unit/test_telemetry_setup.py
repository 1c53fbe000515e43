"""Export is chosen by the environment: Application Insights, OTLP/HTTP, or nothing at all."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from runner_fleet.telemetry import metrics, provider, setup, traces

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Collector:
    """An OTLP/HTTP collector on loopback: keeps what each export posted, by path."""

    url: str
    received: dict[str, list[bytes]] = field(default_factory=dict)
    content_types: set[str] = field(default_factory=set)

    def metric_names(self) -> set[str]:
        names: set[str] = set()
        for body in self.received.get("/v1/metrics", []):
            request = ExportMetricsServiceRequest.FromString(body)
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    names |= {metric.name for metric in scope.metrics}
        return names

    def spans(self) -> list[tuple[str, str]]:
        """(service name, span name) of every span exported."""
        found = []
        for body in self.received.get("/v1/traces", []):
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = next(
                    a.value.string_value for a in resource.resource.attributes if a.key == "service.name"
                )
                found += [(service, span.name) for scope in resource.scope_spans for span in scope.spans]
        return found


@pytest.fixture
def collector() -> Iterator[Collector]:
    got = Collector("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.received.setdefault(self.path, []).append(body)
            got.content_types.add(self.headers.get("Content-Type") or "")
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    got.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield got
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture(autouse=True)
def _forgotten() -> Iterator[None]:
    setup.forget()
    yield
    setup.forget()


def test_the_environment_picks_the_exporter_application_insights_first() -> None:
    """A connection string means Application Insights (even with an OTLP endpoint), an endpoint
    alone OTLP, neither nothing."""
    insights = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000"
    }
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert setup.exporter_for(insights | otlp) == "azure-monitor"
    assert setup.exporter_for(otlp) == "otlp"
    assert setup.exporter_for({}) is None
    assert setup.exporter_for({"APPLICATIONINSIGHTS_CONNECTION_STRING": "  "}) is None


def test_without_an_exporter_nothing_is_configured_and_nothing_recorded() -> None:
    """Neither variable: configure does nothing, and telemetry stays off."""
    assert setup.configure({"RUNNER_POOLS": "[]"}) is None
    assert not provider.enabled()


def test_a_connection_string_configures_the_azure_monitor_distro_once() -> None:
    """The distro gets the connection string and the service's name, logging off (the Functions host
    forwards logs) and the HTTP/SDK instrumentations off; a second call changes nothing."""
    calls: list[dict[str, Any]] = []
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=abc;IngestionEndpoint=https://x/"}

    assert setup.configure(env, azure_monitor=lambda **kwargs: calls.append(kwargs)) == "azure-monitor"
    assert setup.configure(env, azure_monitor=lambda **kwargs: calls.append(kwargs)) == "azure-monitor"

    [kwargs] = calls
    assert kwargs["connection_string"] == env["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    assert kwargs["disable_logging"] is True
    assert kwargs["resource"].attributes["service.name"] == "runner-fleet"
    assert {name for name, option in kwargs["instrumentation_options"].items() if not option["enabled"]} >= {
        "azure_sdk",
        "requests",
        "urllib3",
    }
    assert provider.enabled()


def test_the_otlp_providers_export_metrics_and_spans_to_the_endpoint(collector: Collector) -> None:
    """OTLP/HTTP providers built from the environment post protobuf to /v1/metrics and /v1/traces
    of OTEL_EXPORTER_OTLP_ENDPOINT, with the service's name on the resource."""
    meter_provider, tracer_provider = setup.otlp_providers(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url + "/"}
    )
    provider.use(meter_provider, tracer_provider)
    try:
        metrics.job_accepted("github", "aks-prod", traces.now_ns())
        with traces.job_span("webhook github", "github", 42):
            pass
        assert meter_provider.force_flush() and tracer_provider.force_flush()
    finally:
        provider.off()
        meter_provider.shutdown()
        tracer_provider.shutdown()
    assert collector.content_types == {"application/x-protobuf"}
    assert {"runner_fleet.jobs.queued", "runner_fleet.job.startup"} <= collector.metric_names()
    assert collector.spans() == [("runner-fleet", "webhook github")]


_PROCESS = """
import json, sys
sys.path.insert(0, {root!r})
from opentelemetry import metrics as otel_metrics, trace as otel_trace
from runner_fleet.telemetry import metrics, setup, traces
exporter = setup.configure()
metrics.job_completed("gitlab", "gl-aks", "failed")
with traces.job_span("release", "gitlab", 7):
    pass
otel_metrics.get_meter_provider().force_flush()
otel_trace.get_tracer_provider().force_flush()
print(json.dumps({{"exporter": exporter}}))
"""


def test_a_process_with_an_otlp_endpoint_exports_through_the_global_providers(collector: Collector) -> None:
    """In a process of its own (the global providers are set once): configure() from the environment
    alone sets the OTLP exporters, and what the core records reaches the collector."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "fleet-test", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", _PROCESS.format(root=str(ROOT))],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"exporter": "otlp"}
    assert "runner_fleet.jobs.completed" in collector.metric_names()
    assert collector.spans() == [("fleet-test", "release")]
