"""What both benchmark scripts share: logs to a file, progress to stderr, JSON (only) to stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from runner_fleet import logs


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
