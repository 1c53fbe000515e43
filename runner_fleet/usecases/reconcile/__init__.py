"""Reconcile: make what exists match what should exist. Webhooks make the fleet fast; this makes it correct.

Every minute: observe (Azure VMs by tag, the forges' runners, the state table), decide per runner
with pure rules (`rules.py`), and act in two phases on anything destructive: a runner is first marked a
suspect, and only a suspect that is still one a round later is acted on, after a fresh re-check.
Missed webhooks are recovered by asking the forges for jobs still waiting for a runner, and each pool
is kept at its wanted count (jobs waiting + warm target, within max_runners: `warm_upkeep.py`).
"""
