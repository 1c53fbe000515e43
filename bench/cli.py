"""What the benchmark scripts share: their options, logs to a file, progress to stderr, JSON (only) to stdout.

A script names its settings (a dataclass), the coroutine that runs them, its own options, the figures
its table shows and what makes a run clean; `run_script` does the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TextIO, TypeVar, get_args

from runner_fleet import logs

Progress = Callable[[str], None]
# Where the host instances' queue and state table live: one in-memory pair they all share, or one
# private Azurite account on which each instance has its own Storage adapters (`stack.BenchStack`).
StorageKind = Literal["memory", "azurite"]
STORAGE_KINDS: tuple[StorageKind, ...] = get_args(StorageKind)


class Settings(Protocol):
    """A benchmark's settings: a dataclass whose fields the options fill in."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def jobs(self) -> int:
        """What the first progress line reports."""
        ...


S = TypeVar("S", bound=Settings)


class _HelpFormatter(argparse.HelpFormatter):
    """Names an option's value after its flag (`--rate RATE`), not after the settings field it fills."""

    def _get_default_metavar_for_optional(self, action: argparse.Action) -> str:
        return action.option_strings[-1].removeprefix("--").upper().replace("-", "_")


def storage_kind(text: str) -> StorageKind:
    for kind in STORAGE_KINDS:
        if text == kind:
            return kind
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(STORAGE_KINDS)}, got {text!r}")


# The options of a run of the simulated fleet (flag, settings field, type, help). A script has those
# whose field its settings have, with the field's default.
RUN_OPTIONS: tuple[tuple[str, str, Callable[[str], Any], str | None], ...] = (
    ("--jobs", "jobs", int, "jobs to queue (default %(default)s)"),
    ("--time-scale", "time_scale", float, "simulated s per real s"),
    ("--max-seconds", "max_seconds", float, "bound on the whole run"),
    ("--settle-seconds", "settle_s", float, "reserved for settling"),
    ("--stall-seconds", "stall_s", float, "stop waiting when stuck"),
    ("--instances", "instances", int, "function host instances"),
    ("--storage", "storage", storage_kind, "queue and state table: memory or azurite (default %(default)s)"),
    ("--seed", "seed", int, None),
)


def run_script(
    script: str,
    settings: Callable[..., S],
    bench: Callable[[S, Progress], Coroutine[Any, Any, dict[str, Any]]],
    options: Callable[[argparse.ArgumentParser, S], None],
    headline: list[str],
    *,
    clean: Callable[[dict[str, Any]], bool],
) -> int:
    """Run the benchmark script of module `script` (its `__name__`) with the options on its command line.

    `options` adds the script's own options, each with a field of `settings` as its `dest` and the
    field's default; the run options (`RUN_OPTIONS`), `--json` and `--log-file` come with every
    script, and its docstring is the help. The service's logs go to a file; the figures of `bench`
    are printed, in full as JSON or as a `headline` table. Exit 0 when `clean` says the figures met
    the script's target, else 1.
    """
    module = sys.modules[script]
    path = Path(str(module.__file__))
    name = path.stem.replace("_", "-")  # in the log file's name and the first progress line
    defaults = settings()
    parser = argparse.ArgumentParser(
        prog=f"bench/{path.name}", description=module.__doc__, formatter_class=_HelpFormatter
    )
    fields = {field.name for field in dataclasses.fields(defaults)}
    for flag, field, kind, text in RUN_OPTIONS:
        if field in fields:
            parser.add_argument(flag, dest=field, type=kind, default=getattr(defaults, field), help=text)
    options(parser, defaults)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (and nothing else) on stdout"
    )
    parser.add_argument("--log-file", type=Path, help="the service's structured logs (default: a temp file)")
    values = vars(parser.parse_args())
    as_json, log_file = values.pop("json"), values.pop("log_file")
    chosen = settings(**values)

    log_path, log_stream = open_log(log_file, name)
    progress(f"{name}: {chosen.jobs} jobs; service logs in {log_path}")
    try:
        result = asyncio.run(bench(chosen, progress))
    finally:
        log_stream.close()
    result["log_file"] = str(log_path)
    emit(result, as_json=as_json, headline=headline)
    return 0 if clean(result) else 1


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
