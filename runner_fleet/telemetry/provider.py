"""Where instruments and spans go: the OpenTelemetry global providers, or the ones a test put in.

OpenTelemetry's global providers can be set once per process, so tests cannot each install their
own; `use` points this package at any provider instead (tests: the SDK's, with an in-memory reader
and exporter), and `off` stops all recording. Until `use` is called (by `setup.configure`, once an
exporter is configured, or by a test) telemetry is off and OpenTelemetry is never imported.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter, MeterProvider
    from opentelemetry.trace import Tracer, TracerProvider

# The instrumentation scope of every instrument and span.
SCOPE = "runner_fleet"
VERSION = "0.1.0"


@dataclass
class _Target:
    on: bool = False
    meter_provider: MeterProvider | None = None  # None: the global one
    tracer_provider: TracerProvider | None = None
    generation: int = 0  # bumped on every change, so instruments made for an old target are remade


_target = _Target()
_lock = threading.Lock()


def enabled() -> bool:
    """Whether anything is recorded: False until an exporter is configured or a test says `use`."""
    return _target.on


def use(meter_provider: MeterProvider | None = None, tracer_provider: TracerProvider | None = None) -> None:
    """Record from now on into these providers (None: OpenTelemetry's global one)."""
    with _lock:
        _target.on = True
        _target.meter_provider, _target.tracer_provider = meter_provider, tracer_provider
        _target.generation += 1


def off() -> None:
    """Record nothing from now on (the state without an exporter)."""
    with _lock:
        _target.on = False
        _target.meter_provider = _target.tracer_provider = None
        _target.generation += 1


def generation() -> int:
    return _target.generation


def meter() -> Meter:
    from opentelemetry import metrics

    provider = _target.meter_provider or metrics.get_meter_provider()
    return provider.get_meter(SCOPE, VERSION)


def tracer() -> Tracer:
    from opentelemetry import trace

    provider = _target.tracer_provider or trace.get_tracer_provider()
    return provider.get_tracer(SCOPE, VERSION)
