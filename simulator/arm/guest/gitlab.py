"""The GitLab runner, as far as the simulators need it: `gitlab-runner run-single --max-builds 1
--wait-timeout N` with the `glrt-` token from runner.secret. It connects, asks for a job until
the wait timeout, runs the one job it gets, and exits (the VM then powers off)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from simulator.arm.guest.base import GuestContext, GuestError, RunnerFiles

RUNNER_TOKEN_PREFIX = "glrt-"  # noqa: S105 - a token prefix, not a credential
DEFAULT_WAIT_TIMEOUT_S = 600.0
MAX_POLL_FAILURES = 40


class GitLabGuest:
    async def run(self, ctx: GuestContext, files: RunnerFiles) -> None:
        url, token, wait_timeout_s = _settings(files)
        ctx.console(
            f"Runtime platform arch=amd64 os=linux; run-single --url {url} --executor shell "
            f"--max-builds 1 --wait-timeout {wait_timeout_s:g}"
        )
        runner_id = await self._connect(ctx, url, token, files.runner_name)
        ctx.console(f"Runner {files.runner_name} (id {runner_id}) checking for jobs at {url}")
        job_id = await self._wait_for_job(ctx, url, token, runner_id, wait_timeout_s)
        if job_id is None:
            ctx.console(f"No job received within the wait timeout ({wait_timeout_s:g}s); exiting")
            ctx.report(status="exited", job_id=None)
            return
        ctx.console(f"Checking for jobs... received job={job_id}")
        ctx.report(status="running", job_id=job_id)
        await self._until_exited(ctx, url, token, runner_id, job_id)

    @staticmethod
    async def _connect(ctx: GuestContext, url: str, token: str, name: str) -> int:
        try:
            async with ctx.http.post(
                f"{url}/_sim/runner/connect", json={"token": token, "name": name}
            ) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise GuestError(f"runner: token rejected by {url}: HTTP {resp.status} {text[:200]}")
                answer = json.loads(text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GuestError(f"runner: cannot connect to {url}: {exc!r}") from None
        except json.JSONDecodeError:
            raise GuestError("runner: the connect answer is not JSON") from None
        runner_id = int(answer["runner_id"])
        ctx.report(runner_id=runner_id, runner_name=name, connected=True, status="waiting")
        return runner_id

    @staticmethod
    async def _wait_for_job(
        ctx: GuestContext, url: str, token: str, runner_id: int, wait_timeout_s: float
    ) -> int | None:
        """Ask every poll interval until GitLab hands out a job or the wait timeout elapses.

        A rejected token (registration deleted) does not end the wait early: the real runner
        logs "forbidden" and keeps checking until its wait timeout, and so does this one.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ctx.clock.real(wait_timeout_s)
        headers = {"Authorization": f"Bearer {token}"}
        last_complaint: int | None = None
        failures = 0
        while loop.time() < deadline:
            try:
                async with ctx.http.post(
                    f"{url}/_sim/runner/{runner_id}/request_job", headers=headers
                ) as resp:
                    if resp.status == 200:
                        return int((await resp.json())["job_id"])
                    if resp.status not in (204, last_complaint):
                        ctx.console(
                            f"Checking for jobs... {'forbidden' if resp.status == 403 else resp.status}"
                        )
                        last_complaint = resp.status
                failures = 0
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError, KeyError, ValueError) as exc:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise GuestError(f"runner: lost contact with {url}: {exc!r}") from None
            await ctx.clock.sleep(ctx.poll_s)
        return None

    @staticmethod
    async def _until_exited(ctx: GuestContext, url: str, token: str, runner_id: int, job_id: int) -> None:
        status_url = f"{url}/_sim/runner/{runner_id}"
        headers = {"Authorization": f"Bearer {token}"}
        failures = 0
        while True:
            await ctx.clock.sleep(ctx.poll_s)
            try:
                async with ctx.http.get(status_url, headers=headers) as resp:
                    if resp.status != 200:
                        raise GuestError(f"runner: status check answered HTTP {resp.status}")
                    state: dict[str, Any] = await resp.json()
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise GuestError(f"runner: lost contact with {url}: {exc!r}") from None
                continue
            failures = 0
            if state.get("status") == "exited":
                ctx.console(f"Job {job_id} finished; run-single reached --max-builds 1")
                ctx.console("runner: exited")
                ctx.report(status="exited", job_id=job_id)
                return


def _settings(files: RunnerFiles) -> tuple[str, str, float]:
    url = files.forge_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise GuestError(f"runner: runner.json has no usable forge_url ({files.forge_url!r})")
    token = files.secret.strip()
    if not token.startswith(RUNNER_TOKEN_PREFIX):
        raise GuestError(f"runner: runner.secret is not a {RUNNER_TOKEN_PREFIX} runner authentication token")
    raw_timeout = files.runner_json.get("wait_timeout_s", DEFAULT_WAIT_TIMEOUT_S)
    try:
        wait_timeout_s = float(raw_timeout)
    except (TypeError, ValueError):
        raise GuestError(f"runner: wait_timeout_s is not a number ({raw_timeout!r})") from None
    if isinstance(raw_timeout, bool) or wait_timeout_s <= 0:
        raise GuestError(f"runner: wait_timeout_s must be a positive number ({raw_timeout!r})")
    return url, token, wait_timeout_s
