"""The `runner-fleet` command. Exit codes: 0 ok, 1 a check failed or something was wrong, 2 bad usage."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from runner_fleet.settings import SettingsError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner-fleet",
        description="Single-use Azure VM runners for GitHub Actions and GitLab CI jobs on private networks.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the whole lifecycle against the simulators (no cloud account)"
    )
    demo.add_argument("--jobs", type=int, default=12, help="matched jobs to queue (default 12)")
    demo.add_argument(
        "--time-scale",
        type=float,
        default=15.0,
        help="simulated seconds per real second (default 15: a 45 s VM create takes 3 s)",
    )
    demo.add_argument("--timeout", type=float, default=180.0, help="give up after this many seconds")
    demo.add_argument("--plain", action="store_true", help="no live display; print progress lines")

    serve = commands.add_parser(
        "serve", help="run the function app's HTTP, queue and timer functions locally"
    )
    serve.add_argument("--simulate", action="store_true", help="point every client at in-process simulators")
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument("--host", default="127.0.0.1")

    pools = commands.add_parser("pools", help="print the validated pool configuration")
    pools.add_argument("--json", action="store_true")
    pools.add_argument("--example", action="store_true", help="show the built-in example pools")

    runners = commands.add_parser("runners", help="list runner VMs and registrations with their state")
    runners.add_argument("--json", action="store_true")

    doctor = commands.add_parser(
        "doctor", help="check that each pool's runners can reach its private cluster"
    )
    doctor.add_argument("--pool", metavar="NAME", help="check only this pool")
    doctor.add_argument("--json", action="store_true")
    doctor.add_argument(
        "--fix", action="store_true", help="create missing private DNS zone links, nothing else"
    )
    doctor.add_argument(
        "--simulate", metavar="SCENARIO", help="run against the ARM simulator with a named topology ('list')"
    )

    cloud_init = commands.add_parser(
        "cloud-init", help="print a pool's runner VM user data, with placeholder secrets"
    )
    cloud_init.add_argument("--pool", required=True, metavar="NAME", help="the pool to render")
    cloud_init.add_argument("--example", action="store_true", help="use the built-in example pools")
    cloud_init.add_argument("--base64", action="store_true", help="print it as the VM's customData")

    reconcile = commands.add_parser(
        "reconcile", help="run one reconcile round now (the timer runs it every minute)"
    )
    reconcile.add_argument("--dry-run", action="store_true", help="report what would be done; change nothing")
    reconcile.add_argument("--json", action="store_true")
    return parser


# Each command's module is imported only when it runs: `pools` must not load the simulators.
_COMMANDS = {
    "demo": "runner_fleet.cli.demo",
    "serve": "runner_fleet.cli.serve",
    "pools": "runner_fleet.cli.pools",
    "runners": "runner_fleet.cli.runners",
    "doctor": "runner_fleet.cli.doctor",
    "cloud-init": "runner_fleet.cli.cloud_init",
    "reconcile": "runner_fleet.cli.reconcile",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = importlib.import_module(_COMMANDS[args.command])
    try:
        code: int = command.run(args)
    except SettingsError as exc:
        print(f"runner-fleet: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
