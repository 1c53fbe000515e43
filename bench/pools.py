"""The pools the benchmarks run: both forges, several pools, one of them small enough to fill up.

Timeouts are the settings' minimums (real seconds); the reconciler's clock runs ahead of real time
so that a never-booting VM is noticed within seconds (see `stack.ReconcileCadence`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from runner_fleet.forges import Forge
from simulator.arm import Topology, default_topology
from simulator.stack import (
    DEMO_GITLAB_GROUP_ID,
    DEMO_GITLAB_OTHER_PROJECT_ID,
    DEMO_GROUP_ORG_WIDE,
    DEMO_GROUP_PAYMENTS,
    DEMO_GROUP_PLATFORM_DEPLOY,
    DEMO_ORG,
)

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-runners"
SUBNET_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    "/providers/Microsoft.Network/virtualNetworks/vnet-runners/subnets/snet-runners"
)
# A /24 holds 251 VMs; a burst of a thousand creates needs more addresses than that.
WIDE_RUNNER_PREFIX = "10.20.0.0/20"
CLUSTER = {
    "api_server_fqdn": "aks-prod-7f3a9c2e.privatelink.westeurope.azmk8s.io",
    "dns_zone_id": (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-aks"
        "/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
    ),
}
# The minimums the settings accept (real seconds).
TIMEOUTS = {"boot_timeout_s": 60, "idle_timeout_s": 60, "max_lifetime_s": 600}


@dataclass(frozen=True)
class JobShape:
    """How to queue a job that one pool, and only that pool, serves."""

    pool: str
    forge: Forge
    labels: tuple[str, ...]  # GitHub: the job's runs-on labels; GitLab: the job's tags
    repository: str = ""  # GitHub repository name (in DEMO_ORG)
    project_id: int = 0  # GitLab project


@dataclass(frozen=True)
class PoolSpec:
    name: str
    forge: Forge
    labels: tuple[str, ...]
    scope: dict[str, Any]
    vm_sizes: tuple[str, ...]
    max_runners: int
    shape: JobShape
    os_disk: str = "ephemeral"
    spot: bool = False
    cluster: bool = True

    def as_setting(self) -> dict[str, Any]:
        pool: dict[str, Any] = {
            "name": self.name,
            "forge": self.forge,
            "labels": list(self.labels),
            self.forge: self.scope,
            "azure": {
                "subscription_id": SUBSCRIPTION,
                "resource_group": RESOURCE_GROUP,
                "location": "westeurope",
                "subnet_id": SUBNET_ID,
                "vm_sizes": list(self.vm_sizes),
                "os_disk": self.os_disk,
                "spot": self.spot,
            },
            "limits": {"max_runners": self.max_runners, **TIMEOUTS},
        }
        if self.cluster:
            pool["cluster"] = dict(CLUSTER)
        return pool


def bench_pools(*, max_runners: int, small_pool_max: int) -> tuple[PoolSpec, ...]:
    """Three GitHub pools and two GitLab pools; `gl-web` is the small one that runs full."""
    return (
        PoolSpec(
            "gh-prod",
            "github",
            ("aks-prod",),
            {"org": DEMO_ORG, "runner_group_id": DEMO_GROUP_ORG_WIDE},
            ("Standard_D2ads_v5", "Standard_D2s_v5"),
            max_runners,
            JobShape("gh-prod", "github", ("self-hosted", "aks-prod"), repository="platform-deploy"),
        ),
        PoolSpec(
            "gh-dev",
            "github",
            ("aks-dev", "helm"),
            {
                "org": DEMO_ORG,
                "repositories": ["platform-deploy"],
                "runner_group_id": DEMO_GROUP_PLATFORM_DEPLOY,
            },
            ("Standard_D2s_v5",),
            max_runners,
            JobShape("gh-dev", "github", ("self-hosted", "aks-dev", "helm"), repository="platform-deploy"),
            os_disk="managed",
            spot=True,
            cluster=False,
        ),
        PoolSpec(
            "gh-payments",
            "github",
            ("payments",),
            {"org": DEMO_ORG, "repositories": ["payments-api"], "runner_group_id": DEMO_GROUP_PAYMENTS},
            ("Standard_D2ads_v5",),
            max_runners,
            JobShape("gh-payments", "github", ("self-hosted", "payments"), repository="payments-api"),
        ),
        PoolSpec(
            "gl-deploy",
            "gitlab",
            ("aks-prod", "deploy"),
            {"group_id": DEMO_GITLAB_GROUP_ID},
            ("Standard_D2ads_v5",),
            max_runners,
            JobShape("gl-deploy", "gitlab", ("aks-prod", "deploy"), project_id=2101),
        ),
        PoolSpec(
            "gl-web",
            "gitlab",
            ("website",),
            {"project_id": DEMO_GITLAB_OTHER_PROJECT_ID},
            ("Standard_D2ads_v5",),
            small_pool_max,
            JobShape("gl-web", "gitlab", ("website",), project_id=DEMO_GITLAB_OTHER_PROJECT_ID),
            cluster=False,
        ),
    )


def pools_environment(pools: tuple[PoolSpec, ...]) -> dict[str, str]:
    return {"RUNNER_POOLS": json.dumps({"pools": [pool.as_setting() for pool in pools]})}


def wide_runner_topology(prefix: str = WIDE_RUNNER_PREFIX) -> Topology:
    """The simulators' default network with a larger runner subnet (same VNet, same name)."""
    topology = default_topology()
    subscriptions = []
    for sub in topology.subscriptions:
        vnets = tuple(
            replace(
                vnet,
                subnets=tuple(
                    replace(subnet, address_prefix=prefix) if subnet.name == "snet-runners" else subnet
                    for subnet in vnet.subnets
                ),
            )
            if vnet.name == "vnet-runners"
            else vnet
            for vnet in sub.vnets
        )
        subscriptions.append(replace(sub, vnets=vnets))
    return replace(topology, subscriptions=tuple(subscriptions))
