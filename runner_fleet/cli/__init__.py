"""The `runner-fleet` command. Exit codes: 0 ok, 1 a check failed or something was wrong, 2 bad usage.

Plugins extend it: every entry point in the `runner_fleet.cli` group is a function that takes
`add_command` (adds a command, returns its parser) and the parsers of the built-in commands, and
may add commands or options. Each command's handler is a `module:function` default (`run`), so a
plugin can take over a command by setting its own. The devkit (devkit/pyproject.toml, never
deployed) is one: it adds `demo`, `serve --simulate` and `doctor --simulate`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Protocol

from runner_fleet.settings import SettingsError

EXIT_USAGE = 2
PLUGIN_GROUP = "runner_fleet.cli"
# As runner_fleet.probe.vm has them; repeated so that parsing the command line loads nothing more.
DEFAULT_PROBE_TIMEOUT_S = 600.0
PROBE_TIMEOUT_RANGE_S = (60.0, 3600.0)
# `status --watch`: seconds between readings (each one a forge scan and a dry-run reconcile round).
STATUS_INTERVAL_S, STATUS_MIN_INTERVAL_S = 15.0, 5.0

AddCommand = Callable[[str, str], argparse.ArgumentParser]


class CliPlugin(Protocol):
    def __call__(self, add_command: AddCommand, commands: Mapping[str, argparse.ArgumentParser]) -> None: ...


def build_parser(plugins: Sequence[CliPlugin] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner-fleet",
        description="Single-use Azure VM runners for GitHub Actions and GitLab CI jobs on private networks.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the function app's HTTP, queue and timer functions locally"
    )
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument("--host", default="127.0.0.1")

    pools = commands.add_parser("pools", help="print the validated pool configuration")
    pools.add_argument("--json", action="store_true", help="print the pools and credentials as JSON")
    shown = pools.add_mutually_exclusive_group()
    shown.add_argument("--example", action="store_true", help="show the built-in example pools")
    shown.add_argument(
        "--schema",
        action="store_true",
        help="print the JSON Schema of a pools file instead (always JSON); reads no settings",
    )

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
        "--probe",
        action="store_true",
        help="also boot a VM without secrets in each pool's subnet that resolves and connects (TCP, TLS) "
        "to the API server, private endpoints and forge; it is always deleted",
    )
    doctor.add_argument(
        "--probe-timeout",
        type=_probe_timeout,
        default=DEFAULT_PROBE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long a probe may take, VM create included (default {DEFAULT_PROBE_TIMEOUT_S:g})",
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

    report = commands.add_parser(
        "report", help="per pool: jobs, waits, VM-hours busy and idle, and what they cost"
    )
    report.add_argument(
        "--since",
        type=_duration,
        default=_duration("24h"),
        metavar="DURATION",
        help="how far back, e.g. 30m, 24h, 7d (default 24h; usage is kept 35 days)",
    )
    report.add_argument("--json", action="store_true")

    status = commands.add_parser(
        "status",
        help="per pool: jobs waiting, runners by state, warm target, waits, cost today, preflight",
    )
    status.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    status.add_argument(
        "--interval",
        type=_interval,
        default=STATUS_INTERVAL_S,
        metavar="SECONDS",
        help=f"with --watch, seconds between readings (default {STATUS_INTERVAL_S:g}, "
        f"at least {STATUS_MIN_INTERVAL_S:g})",
    )
    status.add_argument("--json", action="store_true", help="JSON (with --watch: one document a line)")

    parsers = {"serve": serve, "pools": pools, "runners": runners, "doctor": doctor}
    parsers |= {"cloud-init": cloud_init, "reconcile": reconcile}
    parsers["report"] = report
    parsers["status"] = status
    for name, module in _COMMANDS.items():
        parsers[name].set_defaults(run=f"{module}:run")

    def add_command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help)

    for extend in _plugins() if plugins is None else plugins:
        extend(add_command, parsers)
    return parser


def _duration(text: str) -> float:
    """Seconds in `30m`, `24h`, `7d` (or `90s`)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        value = float(number) * units[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30m, 24h or 7d") from None
    if not 0 < value <= 366 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 and at most a year")
    return value


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not STATUS_MIN_INTERVAL_S <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between {STATUS_MIN_INTERVAL_S:g} and 3600 seconds")
    return value


def _probe_timeout(text: str) -> float:
    low, high = PROBE_TIMEOUT_RANGE_S
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g} seconds")
    return value


# Each command's module is imported only when it runs: `pools` must not load the Azure SDKs.
_COMMANDS = {
    "serve": "runner_fleet.cli.serve",
    "pools": "runner_fleet.cli.pools",
    "runners": "runner_fleet.cli.runners",
    "doctor": "runner_fleet.cli.doctor",
    "cloud-init": "runner_fleet.cli.cloud_init",
    "reconcile": "runner_fleet.cli.reconcile",
    "report": "runner_fleet.cli.report",
    "status": "runner_fleet.cli.status",
}


def _plugins() -> list[CliPlugin]:
    return [entry.load() for entry in entry_points(group=PLUGIN_GROUP)]


def handler(spec: str) -> Callable[[argparse.Namespace], int]:
    """The function a `module:function` spec names."""
    module, _, name = spec.partition(":")
    found: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), name)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = handler(args.run)(args)
    except SettingsError as exc:
        print(f"runner-fleet: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
