"""`runner-fleet pools`: the validated configuration, with credentials shown only as set / missing."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from runner_fleet.settings import Pool, ServiceSettings, load_pools, load_service_settings

_CREDENTIALS = (
    ("GITHUB_WEBHOOK_SECRET", "github_webhook_secret"),
    ("GITHUB_APP_ID", "github_app_id"),
    ("GITHUB_APP_PRIVATE_KEY", "github_app_private_key"),
    ("GITHUB_TOKEN", "github_token"),
    ("GITLAB_URL", "gitlab_url"),
    ("GITLAB_TOKEN", "gitlab_token"),
    ("GITLAB_WEBHOOK_TOKEN", "gitlab_webhook_token"),
)


def credentials_summary(settings: ServiceSettings) -> dict[str, str]:
    summary = {}
    for env_name, attr in _CREDENTIALS:
        value = getattr(settings, attr)
        if value is None:
            summary[env_name] = "missing"
        elif attr in {"github_app_id", "gitlab_url"}:
            summary[env_name] = str(value)
        else:
            summary[env_name] = "set (***)"
    return summary


def run(args: argparse.Namespace) -> int:
    settings = load_service_settings()
    # The example is for reading; real configuration must come with its credentials.
    pools = load_pools(settings, use_example=args.example, require_credentials=not args.example)
    if args.json:
        document: dict[str, Any] = {
            "pools": [pool.model_dump(mode="json") for pool in pools],
            "credentials": credentials_summary(settings),
        }
        print(json.dumps(document, indent=2))
        return 0
    console = Console()
    for pool in pools:
        table = Table(
            title=f"pool {pool.name} ({pool.forge})", title_justify="left", show_header=False, box=None
        )
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in _describe(pool):
            table.add_row(key, value)
        console.print(table)
        console.print()
    console.print("credentials:")
    for name, state in credentials_summary(settings).items():
        console.print(f"  {name}: {state}")
    return 0


def _describe(pool: Pool) -> list[tuple[str, str]]:
    if pool.github is not None:
        repos = f" ({', '.join(pool.github.repositories)})" if pool.github.repositories else ""
        scope = f"org {pool.github.org}{repos}, runner group {pool.github.runner_group_id}"
    elif pool.gitlab is not None:
        scope = (
            f"group {pool.gitlab.group_id}" if pool.gitlab.group_id else f"project {pool.gitlab.project_id}"
        )
    else:
        scope = "-"
    azure = pool.azure
    rows = [
        ("scope", scope),
        ("labels", ", ".join(pool.runner_labels)),
        ("azure", f"{azure.subscription_id} / {azure.resource_group} / {azure.location}"),
        ("subnet", azure.subnet_id),
        ("vm sizes", ", ".join(azure.vm_sizes) + (" (spot, on-demand fallback)" if azure.spot else "")),
        ("image", azure.image),
        ("os disk", f"{azure.os_disk}, {azure.os_disk_size_gb} GB"),
    ]
    if pool.cluster is not None:
        rows.append(("cluster", pool.cluster.aks_cluster_id or f"{pool.cluster.api_server_fqdn}"))
    limits = pool.limits
    rows.append(
        (
            "limits",
            f"max {limits.max_runners}, warm {limits.warm}, idle {limits.idle_timeout_s}s, "
            f"boot {limits.boot_timeout_s}s, lifetime {limits.max_lifetime_s}s",
        )
    )
    return rows
