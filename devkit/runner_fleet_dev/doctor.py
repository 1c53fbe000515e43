"""`runner-fleet doctor --simulate SCENARIO`: the network checks against the ARM simulator loaded with
a named topology, with the example pools unless pools are configured. `--simulate list` names the
scenarios (`--json`: {"scenarios": [{"name", "summary"}]}). Forge checks are not run. With `--probe`,
each probe VM boots in the simulator, whose guest plays probe.sh against the simulated network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping

from rich.table import Table

from runner_fleet.cli import doctor as product
from runner_fleet.settings import load_pools, load_service_settings


def run(args: argparse.Namespace) -> int:
    if args.simulate is None:
        return product.run(args)
    if args.simulate == "list":
        return _list_scenarios(args.json)
    return _run_simulated(args)


def _list_scenarios(as_json: bool) -> int:
    from simulator.arm.scenarios import scenarios

    found = scenarios()
    if as_json:
        print(json.dumps({"scenarios": [{"name": s.name, "summary": s.summary} for s in found]}, indent=2))
        return product.EXIT_OK
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for item in found:
        table.add_row(item.name, item.summary)
    product.make_console().print(table)
    return product.EXIT_OK


def _run_simulated(args: argparse.Namespace) -> int:
    from runner_fleet.adapters.azure.credentials import StaticTokenCredential
    from runner_fleet.preflight.factory import azure_reader_factory
    from simulator.arm import ArmConfig, ArmSimulator, Timing
    from simulator.arm.scenarios import scenario
    from simulator.clock import SimClock
    from simulator.server import BackgroundLoop

    try:
        chosen = scenario(args.simulate)
    except KeyError as exc:
        print(f"runner-fleet: {exc.args[0]} (or: --simulate list)", file=sys.stderr)
        return product.EXIT_USAGE
    loop = BackgroundLoop("doctor-simulated-arm")
    arm: ArmSimulator | None = None
    try:
        # A quick cloud: a zone link created by --fix completes in about a second, a probe VM runs in
        # about one and a half.
        timing = Timing(link_s=20.0, poll_interval_s=1.0, provisioning_s=20.0, boot_s=10.0, delete_s=10.0)
        config = chosen.arm_config(ArmConfig(timing=timing))
        arm = ArmSimulator(loop, clock=SimClock(20.0), config=config)
        arm.start()
        environ: Mapping[str, str] = {
            **os.environ,
            "ARM_ENDPOINT": arm.base_url,
            "ARM_CA_BUNDLE": str(arm.ca_bundle),
        }
        settings = load_service_settings(environ)
        configured = load_pools(settings, use_example=True, require_credentials=False)
        pools = product.selected(configured, args.pool)
        if pools is None:
            return product.EXIT_USAGE
        if not args.json:
            product.make_console().print(
                f"simulated Azure, scenario [bold]{chosen.name}[/]: {chosen.summary}\n"
            )
        build = azure_reader_factory(settings, credential=StaticTokenCredential, polling_interval_s=0.2)
        compute = product.probe_compute_factory(
            settings, credential=StaticTokenCredential, polling_interval_s=0.2
        )
        probe = product.probe_setup(args, compute, settings, poll_s=0.25)
        work = product.diagnose_with(
            build, pools, args.fix, configured=configured, settings=settings, probe=probe
        )
        return product.complete(args, work, probe)
    finally:
        if arm is not None:
            arm.stop()
        loop.close()
