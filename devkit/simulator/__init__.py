"""HTTP-level fakes of Azure Resource Manager, GitHub and GitLab.

Used by the tests, the demo and the benchmarks; never deployed. The real SDKs talk real HTTP to
these servers on loopback, so what passes here exercises the same wire calls as production.
"""
