"""Turn export on, once per process, from the environment.

- `APPLICATIONINSIGHTS_CONNECTION_STRING`: Application Insights, through the Azure Monitor
  OpenTelemetry distro (`configure_azure_monitor`). Logs are left to the Functions host, which
  forwards them already, and the distro's library instrumentations (HTTP clients, the Azure SDK) are
  off: one trace per job stays one trace of the fleet's own steps, and every table and queue call
  of a reconcile round is not a dependency to pay for. `OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`,
  `OTEL_TRACES_SAMPLER` and the distro's other variables apply as documented for it.
- `OTEL_EXPORTER_OTLP_ENDPOINT` (without the above): the OpenTelemetry SDK with the OTLP/HTTP
  exporters, which read their `OTEL_EXPORTER_OTLP_*` variables (headers, per-signal endpoints,
  timeouts) themselves; metrics are exported every `OTEL_METRIC_EXPORT_INTERVAL` ms (60 s).
- Neither: nothing is configured and nothing imported; every instrument and span is a no-op.

The distro and the exporters are imported here only, and only when configured: the webhook path of
a service without them pays nothing for their import.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from runner_fleet.logs import get_logger
from runner_fleet.telemetry import provider

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

log = get_logger("telemetry")

Exporter = Literal["azure-monitor", "otlp"]
SERVICE_NAME = "runner-fleet"
# The distro's instrumentations that would trace every HTTP call of the SDKs the service uses.
_QUIET_INSTRUMENTATIONS = ("azure_sdk", "requests", "urllib", "urllib3", "httpx")

_configured: Exporter | None = None
_lock = threading.Lock()


def exporter_for(environ: Mapping[str, str]) -> Exporter | None:
    """Which exporter the environment asks for (Application Insights first), or None."""
    if environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip():
        return "azure-monitor"
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        return "otlp"
    return None


def configure(
    environ: Mapping[str, str] | None = None,
    *,
    azure_monitor: Callable[..., None] | None = None,
) -> Exporter | None:
    """Configure export from `environ` (default: the process's) unless already done; what is in force.

    The first call that finds an exporter configures it; later calls change nothing (OpenTelemetry's
    global providers are set once per process). `azure_monitor` stands in for the distro's
    `configure_azure_monitor` (tests).
    """
    global _configured  # noqa: PLW0603 - export is configured once per process
    env = os.environ if environ is None else environ
    with _lock:
        if _configured is not None:
            return _configured
        exporter = exporter_for(env)
        if exporter is None:
            return None
        if exporter == "azure-monitor":
            _configure_azure_monitor(env, azure_monitor)
        else:
            from opentelemetry import metrics, trace

            meter_provider, tracer_provider = otlp_providers(env)
            metrics.set_meter_provider(meter_provider)
            trace.set_tracer_provider(tracer_provider)
        provider.use()  # the global providers just set
        _configured = exporter
    log.info("telemetry.configured", exporter=exporter)
    return exporter


def configured() -> Exporter | None:
    return _configured


def forget() -> None:
    """Forget what was configured and stop recording (tests). OpenTelemetry's global providers, set
    once per process, stay as they are."""
    global _configured  # noqa: PLW0603 - export is configured once per process
    with _lock:
        _configured = None
        provider.off()


def _configure_azure_monitor(environ: Mapping[str, str], configure_with: Callable[..., None] | None) -> None:
    if configure_with is None:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_with = configure_azure_monitor
    configure_with(
        connection_string=environ["APPLICATIONINSIGHTS_CONNECTION_STRING"].strip(),
        resource=_resource(environ),
        disable_logging=True,
        instrumentation_options={name: {"enabled": False} for name in _QUIET_INSTRUMENTATIONS},
    )


def _resource(environ: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import Resource

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by Resource.create) override the default.
    name = environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME
    instance = environ.get("WEBSITE_INSTANCE_ID") or environ.get("HOSTNAME")
    attributes: dict[str, str] = {SERVICE_NAME_KEY: name}
    if instance:
        attributes["service.instance.id"] = instance
    return Resource.create(attributes)


def otlp_providers(environ: Mapping[str, str]) -> tuple[MeterProvider, TracerProvider]:
    """SDK providers that export over OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT` (not made global)."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    base = environ["OTEL_EXPORTER_OTLP_ENDPOINT"].strip().rstrip("/")
    resource = _resource(environ)
    # Per-signal endpoints, when set, are used as they are (the exporters' own rule).
    metric_endpoint = environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or f"{base}/v1/metrics"
    trace_endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or f"{base}/v1/traces"
    interval_ms = float(environ.get("OTEL_METRIC_EXPORT_INTERVAL") or 60000)
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=metric_endpoint), export_interval_millis=interval_ms
    )
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=trace_endpoint)))
    return meter_provider, tracer_provider
