"""Start `runner-fleet serve --simulate` as its own process and talk to it over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

E2E_SECRET = "e2e-webhook-secret-8d1f"
E2E_GITLAB_TOKEN = "e2e-gitlab-hook-token-3c"
E2E_GITLAB_SIGNING = "whsec_ZTJlLXNpZ25pbmcta2V5LWZvci1naXRsYWItaG9va3M="


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    ready: dict[str, Any]  # the JSON line it prints once it serves
    stderr_lines: list[str]

    def __post_init__(self) -> None:
        # Where the service and the simulators it started listen.
        self.url, self.github, self.arm, self.gitlab = (
            str(self.ready[key]) for key in ("url", "github_simulator", "arm_simulator", "gitlab_simulator")
        )

    @property
    def logs(self) -> str:
        return "".join(self.stderr_lines)

    def events(self, name: str, **fields: object) -> list[dict[str, Any]]:
        """The service's structured log events called `name` whose fields include `fields`."""
        found = []
        for line in list(self.stderr_lines):
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == name and all(record.get(k) == v for k, v in fields.items()):
                found.append(record)
        return found


def _drain(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line)


@pytest.fixture(scope="session")
def served() -> Iterator[ServeProcess]:
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RUNNER_POOLS", "GITHUB_", "GITLAB_", "AzureWebJobs"))
        },
        # The environment overrides the simulate defaults, and the simulated forges use what it says.
        "GITHUB_WEBHOOK_SECRET": E2E_SECRET,
        "GITLAB_WEBHOOK_TOKEN": E2E_GITLAB_TOKEN,
        "GITLAB_WEBHOOK_SIGNING_TOKEN": E2E_GITLAB_SIGNING,
        "RUNNER_FLEET_SIM_TIME_SCALE": "20",
        "RUNNER_FLEET_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "runner_fleet.cli", "serve", "--simulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stderr_lines: list[str] = []
    threading.Thread(target=_drain, args=(process.stderr, stderr_lines), daemon=True).start()
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    ready: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("{"):
            ready = json.loads(line)
            break
    if ready is None:
        process.kill()
        pytest.fail("serve --simulate did not become ready:\n" + "".join(stderr_lines)[-4000:])
    served = ServeProcess(process, ready, stderr_lines)
    yield served
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("serve --simulate did not stop on SIGTERM")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes
) -> tuple[int, Any]:
    """POST a raw body; the status and the parsed JSON answer."""
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)
