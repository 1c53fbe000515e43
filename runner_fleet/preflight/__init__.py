"""The private-cluster network preflight: can a pool's runner VMs reach their cluster's API server?

`discovery` reads the topology, `checks` judge it (each a named pass / warn / fail with the resource
and a one-line fix), `report` makes documents of the verdicts, `gate` guards provisioning with a
cache, `fix` creates missing private DNS zone links. Nothing here imports an Azure SDK: the reads go
through the `TopologyReader` port (`runner_fleet.adapters.azure.network` on Resource Manager).
"""

from runner_fleet.preflight.checks import CHECK_NAMES, run_checks
from runner_fleet.preflight.discovery import discover
from runner_fleet.preflight.gate import AzurePreflightGate
from runner_fleet.preflight.reader import ReadError, TopologyReader
from runner_fleet.preflight.run import Preflight, run_preflight

__all__ = [
    "CHECK_NAMES",
    "AzurePreflightGate",
    "Preflight",
    "ReadError",
    "TopologyReader",
    "discover",
    "run_checks",
    "run_preflight",
]
