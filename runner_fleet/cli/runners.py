"""`runner-fleet runners`: what exists now, from Azure and the forges (not from the state table)."""

from __future__ import annotations

import argparse
import asyncio
import json

from rich.console import Console
from rich.table import Table

from runner_fleet.forges import Forge
from runner_fleet.ports.forge import RunnerRegistry
from runner_fleet.runtime import azure_compute_factory, forge_factories
from runner_fleet.settings import Pool, ServiceSettings, load_pools, load_service_settings
from runner_fleet.usecases.list_runners import RunnerRow, list_runners


def run(args: argparse.Namespace) -> int:
    settings = load_service_settings()
    pools = load_pools(settings)
    rows = asyncio.run(_collect(settings, pools))
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
    else:
        render(rows, Console())
    return 0


async def _collect(settings: ServiceSettings, pools: tuple[Pool, ...]) -> list[RunnerRow]:
    compute = azure_compute_factory(settings)()
    forges = {pool.forge for pool in pools}
    registries: dict[Forge, RunnerRegistry] = {
        forge: build() for forge, build in forge_factories(settings).registries.items() if forge in forges
    }
    try:
        return await list_runners(pools, compute, registries)
    finally:
        await compute.close()
        for registry in registries.values():
            await registry.close()


def render(rows: list[RunnerRow], console: Console) -> None:
    if not rows:
        console.print("no runner VMs or registrations")
        return
    table = Table(title=f"{len(rows)} runner(s)", title_justify="left")
    for column in ("runner / VM", "pool", "forge", "VM", "registration", "job", "age"):
        table.add_column(column)
    for row in rows:
        age = f"{row.age_s:.0f}s" if row.age_s is not None else "-"
        table.add_row(row.name, row.pool, row.forge, row.vm, row.registration, row.job or "-", age)
    console.print(table)
