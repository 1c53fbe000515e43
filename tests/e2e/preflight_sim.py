"""An ARM simulator loaded with a named scenario, and the service's real reader pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from runner_fleet.adapters.azure.clients import ArmConnection
from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from runner_fleet.adapters.azure.network import AzureTopologyReader
from runner_fleet.settings import Pool, load_pools, load_service_settings
from simulator.arm import ArmConfig, ArmSimulator, Timing
from simulator.arm.scenarios import scenario
from simulator.clock import SimClock
from simulator.server import BackgroundLoop
from simulator.tls import LoopbackTls, make_loopback_tls

TIME_SCALE = 40.0


@cache
def loopback_tls() -> LoopbackTls:
    return make_loopback_tls()


def fast_timing() -> Timing:
    """At TIME_SCALE a VM is up in about 50 ms and a zone link completes in about 250 ms."""
    return Timing(provisioning_s=1.0, boot_s=1.0, delete_s=1.0, poll_interval_s=0.5, link_s=10.0)


@contextmanager
def simulated_arm(name: str) -> Iterator[ArmSimulator]:
    loop = BackgroundLoop(f"arm-{name}")
    try:
        arm = ArmSimulator(
            loop,
            clock=SimClock(TIME_SCALE),
            config=scenario(name).arm_config(ArmConfig(timing=fast_timing(), seed=7)),
            tls=loopback_tls(),
        )
        arm.start()
        yield arm
        arm.stop()
    finally:
        loop.close()


def reader_for(arm: ArmSimulator) -> AzureTopologyReader:
    return AzureTopologyReader(
        ArmConnection(
            credential=StaticTokenCredential(),
            endpoint=arm.base_url,
            ca_bundle=str(arm.ca_bundle),
            polling_interval_s=0.1,
        )
    )


def example_pools() -> tuple[Pool, ...]:
    return load_pools(load_service_settings({}), use_example=True, require_credentials=False)
