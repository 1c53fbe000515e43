"""`python bench/trace.py LOG TERM...`: the service's log events that mention any TERM, in order.

A TERM is a job id or a runner (VM) name, e.g. the `job` and `vm` of a soak's `lost_jobs`; each
line shows the time, the event, and the fields that tell the story (job, runner, state, reason).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

FIELDS = ("forge", "pool", "job_id", "runner", "runner_id", "status", "state", "reason", "outcome", "action")


def matching(lines: Iterable[str], terms: list[str]) -> Iterator[dict[str, object]]:
    wanted = [term.split(":")[-1] for term in terms]  # "github:123" and "123" both match job 123
    for line in lines:
        if not any(term in line for term in wanted):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            yield event


def render(event: dict[str, object]) -> str:
    stamp = str(event.get("timestamp", ""))[11:23]
    details = " ".join(f"{key}={event[key]}" for key in FIELDS if event.get(key) not in (None, ""))
    return f"{stamp} {event.get('event', '?'):32} {details}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/trace.py", description=__doc__)
    parser.add_argument("log", type=Path)
    parser.add_argument("terms", nargs="+", help="job ids (forge:id or id) and runner names")
    args = parser.parse_args(argv)
    with args.log.open(encoding="utf-8") as lines:
        try:
            for event in matching(lines, args.terms):
                print(render(event))
        except BrokenPipeError:
            # Piped into `head`: the reader has seen enough. Point stdout at /dev/null so the
            # interpreter's final flush does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
