"""The devkit's part of the `runner-fleet` command (entry point group `runner_fleet.cli`).

Kept free of imports beyond argparse: every `runner-fleet` invocation loads it, and only the
command that runs imports the simulators.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from runner_fleet.cli import AddCommand


def extend(add_command: AddCommand, commands: Mapping[str, argparse.ArgumentParser]) -> None:
    demo = add_command("demo", "run the whole lifecycle against the simulators (no cloud account)")
    demo.add_argument("--jobs", type=int, default=12, help="matched jobs to queue (default 12)")
    demo.add_argument(
        "--time-scale",
        type=float,
        default=15.0,
        help="simulated seconds per real second (default 15: a 45 s VM create takes 3 s)",
    )
    demo.add_argument("--timeout", type=float, default=180.0, help="give up after this many seconds")
    demo.add_argument("--plain", action="store_true", help="no live display; print progress lines")
    demo.set_defaults(run="runner_fleet_dev.demo:run")

    serve = commands["serve"]
    serve.add_argument(
        "--simulate", action="store_true", help="point every client at in-process simulators (devkit)"
    )
    serve.set_defaults(run="runner_fleet_dev.serve:run")

    doctor = commands["doctor"]
    doctor.add_argument(
        "--simulate",
        metavar="SCENARIO",
        help="run against the ARM simulator with a named topology ('list'; devkit)",
    )
    doctor.set_defaults(run="runner_fleet_dev.doctor:run")
