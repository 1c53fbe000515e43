"""The keys of a probe's `result` console line, in order: what probe.sh and the simulated probe guest
must both print (docs/architecture.md, "A probe VM's console lines")."""

RESULT_KEYS = (
    "probe",
    "target",
    "name",
    "fqdn",
    "port",
    "expect",
    "address",
    "scope",
    "resolve_error",
    "connect_ms",
    "connect_error",
    "tls",
    "tls_detail",
)
