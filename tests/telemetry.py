"""Record the service's metrics and spans with the OpenTelemetry SDK's in-memory reader and exporter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runner_fleet.telemetry import metrics, provider


@dataclass(frozen=True)
class Point:
    """One data point: a counter's or gauge's value, or a histogram's count and sum."""

    name: str
    unit: str
    attributes: dict[str, Any]
    value: float
    count: int = 0


@dataclass
class Recorded:
    reader: InMemoryMetricReader
    exporter: InMemorySpanExporter

    def points(self, name: str | None = None) -> list[Point]:
        """Every data point collected now (gauges observed now), of `name` or of all instruments."""
        data = self.reader.get_metrics_data()
        found: list[Point] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if name is not None and metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        attributes = dict(point.attributes or {})
                        if isinstance(point, HistogramDataPoint):
                            found.append(
                                Point(metric.name, metric.unit or "", attributes, point.sum, point.count)
                            )
                        elif isinstance(point, NumberDataPoint):
                            found.append(
                                Point(metric.name, metric.unit or "", attributes, float(point.value))
                            )
        return found

    def total(self, name: str, **attributes: str) -> float:
        """The sum of a counter's points whose attributes include `attributes` (a histogram: its count)."""
        return sum(
            point.count or point.value
            for point in self.points(name)
            if all(point.attributes.get(k) == v for k, v in attributes.items())
        )

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if name is None or span.name == name]


@contextmanager
def recording() -> Iterator[Recorded]:
    """Telemetry on, into in-memory SDK providers, for the block; off again after it."""
    reader, exporter = InMemoryMetricReader(), InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    metrics.forget_seen()
    provider.use(meter_provider, tracer_provider)
    try:
        yield Recorded(reader, exporter)
    finally:
        provider.off()
        metrics.forget_seen()
        meter_provider.shutdown()
        tracer_provider.shutdown()
