"""The GitHub Actions runner, as far as the simulators need it: connect with the JIT config, then
poll until the runner's one job is done."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from simulator.arm.guest.base import GuestContext, GuestError, RunnerFiles

MAX_POLL_FAILURES = 40


@dataclass(frozen=True)
class JitConfig:
    runner: dict[str, Any]
    credentials: dict[str, Any]

    @property
    def server_url(self) -> str:
        return str(self.runner["serverUrl"]).rstrip("/")

    @property
    def token(self) -> str:
        return str(self.credentials["data"]["token"])


def decode_jit_config(encoded: str) -> JitConfig:
    """`base64(JSON {file name: base64(file content)})` with `.runner` and `.credentials` inside."""
    try:
        files = json.loads(base64.b64decode(encoded, validate=True))
        runner = json.loads(base64.b64decode(files[".runner"]).decode("utf-8-sig"))
        credentials = json.loads(base64.b64decode(files[".credentials"]).decode("utf-8-sig"))
        config = JitConfig(runner, credentials)
        if not config.server_url or not config.token:
            raise ValueError("serverUrl or token is empty")
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise GuestError(f"runner: the JIT config cannot be read ({exc.__class__.__name__}: {exc})") from None
    return config


class GitHubGuest:
    async def run(self, ctx: GuestContext, files: RunnerFiles) -> None:
        jit = decode_jit_config(files.secret)
        ctx.console(
            f"runner: {jit.runner.get('agentName', files.runner_name)} connecting to {jit.server_url}"
        )
        runner_id = await self._connect(ctx, jit, files.secret)
        ctx.console("√ Connected to GitHub")
        ctx.console("Listening for Jobs")
        await self._until_exited(ctx, jit, runner_id)

    @staticmethod
    async def _connect(ctx: GuestContext, jit: JitConfig, encoded: str) -> int:
        try:
            async with ctx.http.post(
                f"{jit.server_url}/_sim/runner/connect", json={"jitconfig": encoded}
            ) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise GuestError(f"runner: registration rejected: HTTP {resp.status} {text[:200]}")
                answer = json.loads(text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GuestError(f"runner: cannot connect to {jit.server_url}: {exc!r}") from None
        except json.JSONDecodeError:
            raise GuestError("runner: the connect answer is not JSON") from None
        runner_id = int(answer["runner_id"])
        ctx.report(runner_id=runner_id, runner_name=answer.get("runner_name"), connected=True)
        return runner_id

    @staticmethod
    async def _until_exited(ctx: GuestContext, jit: JitConfig, runner_id: int) -> None:
        url = f"{jit.server_url}/_sim/runner/{runner_id}"
        headers = {"Authorization": f"Bearer {jit.token}"}
        last: tuple[str, Any] | None = None
        failures = 0
        while True:
            await ctx.clock.sleep(ctx.poll_s)
            try:
                async with ctx.http.get(url, headers=headers) as resp:
                    if resp.status != 200:
                        raise GuestError(f"runner: status check answered HTTP {resp.status}")
                    state = await resp.json()
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise GuestError(f"runner: lost contact with {jit.server_url}: {exc!r}") from None
                continue
            failures = 0
            current = (str(state.get("status")), state.get("job_id"))
            if current != last:
                _narrate(ctx, current, last)
                ctx.report(status=current[0], job_id=current[1])
                last = current
            if current[0] == "exited":
                return


def _narrate(ctx: GuestContext, current: tuple[str, Any], last: tuple[str, Any] | None) -> None:
    status, job_id = current
    if status == "busy":
        ctx.console(f"Running job: {job_id}")
    elif status == "exited":
        if last is not None and last[0] == "busy":
            ctx.console(f"Job {last[1]} completed")
        ctx.console("runner: exited")
