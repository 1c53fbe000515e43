"""What both benchmark scripts share: logs to a file, progress to stderr, JSON (only) to stdout."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TextIO

from runner_fleet import logs

Progress = Callable[[str], None]


class RunDefaults(Protocol):
    """The settings both benchmarks have (their dataclasses' defaults fill in the options)."""

    @property
    def jobs(self) -> int: ...

    @property
    def time_scale(self) -> float: ...

    @property
    def max_seconds(self) -> float: ...

    @property
    def settle_s(self) -> float: ...

    @property
    def stall_s(self) -> float: ...

    @property
    def instances(self) -> int: ...

    @property
    def seed(self) -> int: ...


def add_run_options(parser: argparse.ArgumentParser, d: RunDefaults) -> None:
    parser.add_argument("--jobs", type=int, default=d.jobs, help=f"jobs to queue (default {d.jobs})")
    parser.add_argument("--time-scale", type=float, default=d.time_scale, help="simulated s per real s")
    parser.add_argument("--max-seconds", type=float, default=d.max_seconds, help="bound on the whole run")
    parser.add_argument("--settle-seconds", type=float, default=d.settle_s, help="reserved for settling")
    parser.add_argument("--stall-seconds", type=float, default=d.stall_s, help="stop waiting when stuck")
    parser.add_argument("--instances", type=int, default=d.instances, help="function host instances")
    parser.add_argument("--seed", type=int, default=d.seed)
    add_common(parser)


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of `add_run_options`, named as the settings dataclasses name them."""
    return {
        "jobs": args.jobs,
        "time_scale": args.time_scale,
        "max_seconds": args.max_seconds,
        "settle_s": args.settle_seconds,
        "stall_s": args.stall_seconds,
        "instances": args.instances,
        "seed": args.seed,
    }


def run(
    name: str,
    jobs: int,
    bench: Callable[[Progress], Coroutine[Any, Any, dict[str, Any]]],
    args: argparse.Namespace,
    headline: list[str],
    *,
    clean: Callable[[dict[str, Any]], bool],
) -> int:
    """Run one benchmark with its logs in a file; print its figures; exit 0 when `clean`."""
    log_path, log_stream = open_log(args.log_file, name)
    progress(f"{name}: {jobs} jobs; service logs in {log_path}")
    try:
        result = asyncio.run(bench(progress))
    finally:
        log_stream.close()
    result["log_file"] = str(log_path)
    emit(result, as_json=args.json, headline=headline)
    return 0 if clean(result) else 1


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (and nothing else) on stdout"
    )
    parser.add_argument("--log-file", type=Path, help="the service's structured logs (default: a temp file)")


def open_log(path: Path | None, name: str) -> tuple[Path, TextIO]:
    target = path or Path(tempfile.gettempdir()) / f"runner-fleet-{name}-{os.getpid()}.log"
    stream = target.open("w", encoding="utf-8")
    logs.configure("json", stream=stream)
    return target, stream


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def emit(result: dict[str, Any], *, as_json: bool, headline: list[str]) -> None:
    if as_json:
        print(json.dumps(result), flush=True)
        return
    for key in headline:
        print(f"{key:28} {result.get(key)}")
    print(f"{'log_file':28} {result.get('log_file')}")
