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
        from runner_fleet.adapters.azure.clients import ArmConnection
        from runner_fleet.adapters.azure.credentials import default_credential
        from runner_fleet.adapters.azure.network import AzureTopologyReader
        from runner_fleet.preflight.retrying import RetryingReader

        return RetryingReader(
            AzureTopologyReader(
                ArmConnection(
                    credential=credential() if credential is not None else default_credential(),
                    endpoint=settings.arm_endpoint,
                    ca_bundle=str(settings.arm_ca_bundle) if settings.arm_ca_bundle else None,
                    polling_interval_s=polling_interval_s,
                )
            )
        )

    return build


def azure_preflight_factory(
    settings: ServiceSettings,
    pools: Sequence[Pool],
    *,
    credential: Callable[[], Any] | None = None,
    polling_interval_s: float = 5.0,
) -> Callable[[], PreflightGate]:
    reader = azure_reader_factory(settings, credential=credential, polling_interval_s=polling_interval_s)
    return lambda: AzurePreflightGate(reader, pools)
