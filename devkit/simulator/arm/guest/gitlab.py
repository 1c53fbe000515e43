"""The GitLab runner, as far as the simulators need it: `gitlab-runner run-single --max-builds 1
--wait-timeout N` with the `glrt-` token from runner.secret. It verifies its token, asks for a job
(`POST /api/v4/jobs/request`) until the wait timeout, runs the one job it gets, and exits (the VM
then powers off). Only the runner process stops there: the token would take more jobs if asked."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from simulator.arm.guest.base import Contact, GuestContext, GuestError, RunnerFiles, post_json

RUNNER_TOKEN_PREFIX = "glrt-"  # noqa: S105 - a token prefix, not a credential
DEFAULT_WAIT_TIMEOUT_S = 600.0


class GitLabGuest:
    async def run(self, ctx: GuestContext, files: RunnerFiles) -> None:
        url, token, wait_timeout_s = _settings(files)
        ctx.console(
            f"Runtime platform arch=amd64 os=linux; run-single --runner {files.runner_name} "
            f"--max-builds 1 --wait-timeout {wait_timeout_s:g}"
        )
        runner_id = await self._verify(ctx, url, token, files.runner_name)
        ctx.console(f"Runner {files.runner_name} (id {runner_id}) checking for jobs at {url}")
        job: tuple[int, str] | None = None
        try:
            job = await self._wait_for_job(ctx, url, token, files.runner_name, wait_timeout_s)
            if job is None:
                ctx.console(f"No job received within the wait timeout ({wait_timeout_s:g}s); exiting")
                ctx.report(status="exited", job_id=None)
                return
            job_id, job_token = job
            ctx.console(f"Checking for jobs... received job={job_id}")
            ctx.report(status="running", job_id=job_id)
            final = await self._until_job_ends(ctx, url, job_id, job_token)
        except asyncio.CancelledError:
            # The VM is going away (deleted, stopped, evicted) with the runner still running.
            ctx.detach(_host_lost(ctx, url, token, job))
            raise
        ctx.console(f"Job {job_id} ended ({final}); run-single reached --max-builds 1")
        ctx.console("runner: exited")
        ctx.report(status="exited", job_id=job_id)

    @staticmethod
    async def _verify(ctx: GuestContext, url: str, token: str, name: str) -> int:
        body = {"token": token, "info": {"name": name}}
        verify = f"{url}/api/v4/runners/verify"
        answer = await post_json(ctx, verify, body, server=url, refused=f"token rejected by {url}")
        runner_id = int(answer["id"])
        ctx.report(runner_id=runner_id, runner_name=name, connected=True, status="waiting")
        return runner_id

    @staticmethod
    async def _wait_for_job(
        ctx: GuestContext, url: str, token: str, name: str, wait_timeout_s: float
    ) -> tuple[int, str] | None:
        """Ask every check interval (run-single: `common.CheckInterval`, 3 s, after a request that
        brought no job) until GitLab hands out a job or the wait timeout elapses.

        A rejected token (registration deleted) does not end the wait early: run-single logs
        "forbidden", counts itself unhealthy and keeps checking until its wait timeout
        (commands/single.go, processBuild and checkFinishedConditions); so does this one.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ctx.clock.real(wait_timeout_s)
        body = {"token": token, "info": {"name": name}}
        last_complaint: int | None = None
        contact = Contact(url)
        while loop.time() < deadline:
            try:
                async with ctx.http.post(f"{url}/api/v4/jobs/request", json=body) as resp:
                    if resp.status == 201:
                        job = await resp.json()
                        return int(job["id"]), str(job["token"])
                    if resp.status not in (204, last_complaint):
                        ctx.console(
                            f"Checking for jobs... {'forbidden' if resp.status == 403 else resp.status}"
                        )
                        last_complaint = resp.status
                contact.kept()
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError, KeyError, ValueError) as exc:
                contact.lost(exc)
            await ctx.clock.sleep(ctx.check_interval_s)
        return None

    @staticmethod
    async def _until_job_ends(ctx: GuestContext, url: str, job_id: int, job_token: str) -> str:
        """Update the job with its job token (as the runner's trace updates do) until GitLab
        answers 403 with the job's final `Job-Status`: finished, failed or cancelled.

        The simulated job's script is its duration on GitLab's side; what matters here is that
        the runner needs only the job token while the job runs, so its registration may go.
        """
        contact = Contact(url)
        while True:
            await ctx.clock.sleep(ctx.poll_s)
            try:
                async with ctx.http.put(
                    f"{url}/api/v4/jobs/{job_id}", json={"token": job_token, "state": "running"}
                ) as resp:
                    if resp.status == 403:
                        return resp.headers.get("Job-Status") or "unknown"
                    if resp.status != 200:
                        raise GuestError(f"runner: job update answered HTTP {resp.status}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                contact.lost(exc)
                continue
            contact.kept()


async def _host_lost(ctx: GuestContext, url: str, token: str, job: tuple[int, str] | None) -> None:
    """Tell the GitLab simulator what GitLab would notice by itself: the job's updates stopped."""
    body: dict[str, Any] = {"token": token}
    if job is not None:
        body |= {"job_id": job[0], "job_token": job[1]}
    try:
        async with ctx.http.post(f"{url}/_sim/runner/host-lost", json=body) as resp:
            await resp.read()
    except (aiohttp.ClientError, TimeoutError, RuntimeError):
        pass  # the simulators are stopping: nobody is left to drop a job


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
