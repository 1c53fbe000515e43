"""`runners` shows a `doctor --probe` VM as a probe, not as a runner whose registration is missing."""

from __future__ import annotations

import time

from runner_fleet.ports.compute import VmSpec
from runner_fleet.probe.vm import probe_tags, probe_vm_name
from runner_fleet.usecases.list_runners import list_runners
from tests.builders import make_pool
from tests.fakes import FakeCompute, FakeRegistry

POOL = make_pool()


async def test_a_probe_vm_is_listed_as_a_probe() -> None:
    """Its row says `probe` where a runner's says its registration (a runner without one: `absent`)."""
    compute = FakeCompute()
    name = probe_vm_name(POOL.name, "0a1b2c3d")
    tags = probe_tags(POOL.name, POOL.forge, name, time.time(), 600)
    compute.vms[name] = VmSpec(
        name=name, pool=POOL, size="Standard_D2s_v5", custom_data_b64="", tags=tags, ssh_public_key=""
    )
    [row] = await list_runners([POOL], compute, {"github": FakeRegistry()})
    assert (row.name, row.pool, row.registration) == (name, POOL.name, "probe")
