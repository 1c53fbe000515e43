"""One trace per job: its webhooks, provision steps, VM create, runner coming online and release.

A job's trace id is derived from the forge and the job id, so every step about the job joins one
trace whoever starts it: a webhook (`queued`, `in_progress`, `completed`, or GitLab's statuses), a
provision the reconciler enqueued for a missed webhook, a message written before this existed. The
job itself is the trace's root, like an upstream that sent a `traceparent`: a remote parent span
whose id is derived too and which nothing exports. Within the trace, each queue message carries the
W3C `traceparent` of the span that sent it (optional field `traceparent`), so a provision is the
child of its webhook, a follow-up of the provision before it, a release of the `completed` webhook.

Spans carry the job id and runner names as attributes (metrics never do). An exception leaving a
span marks it failed with the exception's type and its scrubbed message, never a stack trace; an
expected one (a deferral) is noted as an attribute instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from runner_fleet.telemetry import provider

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

Attributes = Mapping[str, str | int | float | bool]
JOB_ID = "runner_fleet.job.id"
FORGE = "runner_fleet.forge"
POOL = "runner_fleet.pool"
RUNNER = "runner_fleet.runner"


def job_trace(forge: str, job_id: int | str) -> tuple[int, int]:
    """The trace id of a job's trace and the span id of its (unexported) root: the job itself."""
    digest = hashlib.sha256(f"runner-fleet\0{forge}\0{job_id}".encode()).digest()
    return int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:24], "big") or 1


def _job_context(forge: str, job_id: int | str, traceparent: str | None) -> Context:
    """Where a span about this job hangs: the `traceparent` sent with it if that is in the job's
    trace (a follow-up, a release), else the job's root."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    trace_id, root = job_trace(forge, job_id)
    if traceparent:
        sent = _extract(traceparent)
        if sent is not None and trace.get_current_span(sent).get_span_context().trace_id == trace_id:
            return sent
    job = SpanContext(trace_id, root, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(job))


def _extract(traceparent: str) -> Context | None:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


@contextlib.contextmanager
def job_span(
    name: str,
    forge: str,
    job_id: int | str,
    *,
    traceparent: str | None = None,
    attributes: Attributes | None = None,
    start_time_ns: int | None = None,
    expected: tuple[type[BaseException], ...] = (),
) -> Iterator[Span | None]:
    """A span in the job's trace, current while the block runs; None while telemetry is off."""
    if not provider.enabled():
        yield None
        return
    attrs: dict[str, Any] = {FORGE: forge, JOB_ID: str(job_id), **(attributes or {})}
    with _span(name, _job_context(forge, job_id, traceparent), attrs, start_time_ns, expected) as span:
        yield span


@contextlib.contextmanager
def span(
    name: str,
    *,
    traceparent: str | None = None,
    attributes: Attributes | None = None,
    expected: tuple[type[BaseException], ...] = (),
) -> Iterator[Span | None]:
    """A span under the current one, or under `traceparent`, or a trace of its own (a pool runner's
    provision); None while telemetry is off."""
    if not provider.enabled():
        yield None
        return
    parent = _extract(traceparent) if traceparent else None
    with _span(name, parent, dict(attributes or {}), None, expected) as current:
        yield current


@contextlib.contextmanager
def _span(
    name: str,
    parent: Context | None,
    attributes: dict[str, Any],
    start_time_ns: int | None,
    expected: tuple[type[BaseException], ...],
) -> Iterator[Span]:
    from opentelemetry.trace import Status, StatusCode

    from runner_fleet.logs import scrub

    with provider.tracer().start_as_current_span(
        name,
        context=parent,
        attributes=attributes,
        start_time=start_time_ns,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except expected as exc:
            current.set_attribute("runner_fleet.deferred", type(exc).__name__)
            raise
        except BaseException as exc:
            # Not record_exception: its message and stack trace would leave unscrubbed.
            message = scrub(str(exc))[:300]
            current.add_event(
                "exception", {"exception.type": type(exc).__name__, "exception.message": message}
            )
            current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def finished_job_span(
    name: str,
    forge: str,
    job_id: int | str,
    *,
    start_s: float,
    end_s: float,
    attributes: Attributes | None = None,
) -> None:
    """A span that already happened (`runner.online`: from the VM running to the runner seen online)."""
    if not provider.enabled() or end_s < start_s:
        return
    attrs: dict[str, Any] = {FORGE: forge, JOB_ID: str(job_id), **(attributes or {})}
    done = provider.tracer().start_span(
        name, context=_job_context(forge, job_id, None), attributes=attrs, start_time=int(start_s * 1e9)
    )
    done.end(end_time=int(end_s * 1e9))


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to send with a queue message; None without one."""
    if not provider.enabled():
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def set_attributes(current: Span | None, **attributes: str | int | float | bool | None) -> None:
    """Add attributes to a span from `job_span`/`span` (nothing while telemetry is off)."""
    if current is not None:
        current.set_attributes({f"runner_fleet.{k}": v for k, v in attributes.items() if v is not None})


def now_ns() -> int:
    """When something was received, for a span started after it was parsed (cheap when off)."""
    return time.time_ns()
