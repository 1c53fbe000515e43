"""`runner-fleet pools`: the validated configuration, with credentials shown only as set / missing, or
(`--schema`) the JSON Schema of a pools file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from runner_fleet.settings import Pool, ServiceSettings, load_pools, load_service_settings
from runner_fleet.settings.schema import pools_schema_text
from runner_fleet.warm.policy import WarmNow, warm_now

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
    if args.schema:
        # What a pools file may hold, from the model alone: no settings, no credentials.
        sys.stdout.write(pools_schema_text())
        return 0
    settings = load_service_settings()
    # The example is for reading; real configuration must come with its credentials.
    pools = load_pools(settings, use_example=args.example, require_credentials=not args.example)
    now = time.time()
    if args.json:
        document: dict[str, Any] = {
            "pools": [{**pool.model_dump(mode="json"), "warm_now": _warm_json(pool, now)} for pool in pools],
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
        for key, value in _describe(pool, now):
            table.add_row(key, value)
        console.print(table)
        console.print()
    console.print("credentials:")
    for name, state in credentials_summary(settings).items():
        console.print(f"  {name}: {state}")
    return 0


def _describe(pool: Pool, now: float) -> list[tuple[str, str]]:
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
            f"max {limits.max_runners}, idle {limits.idle_timeout_s}s, "
            f"boot {limits.boot_timeout_s}s, lifetime {limits.max_lifetime_s}s",
        )
    )
    rows.append(("warm", describe_warm(pool, now)))
    return rows


def describe_warm(pool: Pool, now: float) -> str:
    """The warm target in force at `now`, and for a schedule when it changes next, to what."""
    if (auto := pool.limits.warm_auto) is not None:
        return f"auto ({auto.min}..{auto.max}, budget {auto.idle_budget_vm_hours_per_day:g} VM-h/day)"
    decided = warm_now(pool, now)
    if decided.mode == "static":
        return str(decided.target)
    text = f"{decided.target} now ({decided.reason})"
    if decided.next_change_at is None:
        return f"{text}; no change within 8 days"
    return f"{text}; {decided.next_target} from {_when(pool, decided)}"


def _when(pool: Pool, decided: WarmNow) -> str:
    """The moment of the next change in the schedule's zone, and in UTC."""
    assert decided.next_change_at is not None
    at = datetime.fromtimestamp(decided.next_change_at, UTC)
    schedule = pool.limits.warm_schedule
    windows = schedule.schedule if schedule is not None else ()
    zones = sorted({window.timezone for window in windows} - {"UTC", "Etc/UTC"})
    utc = f"{at:%Y-%m-%d %H:%M} UTC"
    if not zones:
        return utc
    local = " / ".join(f"{at.astimezone(ZoneInfo(name)):%a %Y-%m-%d %H:%M %Z}" for name in zones)
    return f"{local} ({utc})"


def _warm_json(pool: Pool, now: float) -> dict[str, Any]:
    decided = warm_now(pool, now)
    return {
        "target": decided.target,
        "mode": decided.mode,
        "reason": decided.reason,
        "next_change_at": (
            datetime.fromtimestamp(decided.next_change_at, UTC).isoformat()
            if decided.next_change_at is not None
            else None
        ),
        "next_target": decided.next_target,
    }
