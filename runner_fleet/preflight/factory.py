"""Building the gate for a runtime: the Azure reader is constructed on first use, never at import."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from runner_fleet.ports.preflight import PreflightGate
from runner_fleet.preflight.gate import AzurePreflightGate
from runner_fleet.preflight.reader import TopologyReader
from runner_fleet.settings.pool import Pool
from runner_fleet.settings.service import ServiceSettings


def azure_reader_factory(
    settings: ServiceSettings,
    *,
    credential: Callable[[], Any] | None = None,
    polling_interval_s: float = 5.0,
) -> Callable[[], TopologyReader]:
    def build() -> TopologyReader:
        from runner_fleet.adapters.azure.clients import arm_connection
        from runner_fleet.adapters.azure.network import AzureTopologyReader
        from runner_fleet.preflight.retrying import RetryingReader

        connection = arm_connection(
            settings.arm_endpoint,
            ca_bundle=settings.arm_ca_bundle_path,
            credential=credential,
            polling_interval_s=polling_interval_s,
        )
        return RetryingReader(AzureTopologyReader(connection))

    return build


def azure_preflight_factory(
    settings: ServiceSettings,
    pools: Sequence[Pool],
    *,
    credential: Callable[[], Any] | None = None,
    polling_interval_s: float = 5.0,
) -> Callable[[], PreflightGate]:
    reader = azure_reader_factory(settings, credential=credential, polling_interval_s=polling_interval_s)
    return lambda: AzurePreflightGate(reader, pools, settings=settings)
