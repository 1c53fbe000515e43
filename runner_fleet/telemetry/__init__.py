"""Metrics and traces (OpenTelemetry): what the fleet does, by pool, and one trace per job.

- `setup`: configures export once per process from the environment (Application Insights through
  the Azure Monitor distro, or OTLP/HTTP); without either nothing is exported and nothing is done.
- `provider`: where instruments and spans go (the global providers, or ones a test puts in).
- `metrics`: the instruments (names, units, attributes: the README's "Metrics and traces") and the
  small functions the core calls, one per event. Attributes are low-cardinality: pool, forge,
  outcome, state, code, reason; never a job id, a runner name or a repository.
- `traces`: one trace per job, its id derived from the job, continued through the queue messages'
  `traceparent`.

Nothing here imports OpenTelemetry until telemetry is switched on, so the webhook path of a service
without an exporter pays one flag test per event.
"""
