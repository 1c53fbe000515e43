"""The GitHub Actions runner, as far as the simulators need it: connect with the JIT config, then
poll until the runner's one job is done."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from simulator.arm.guest.base import Contact, GuestContext, GuestError, RunnerFiles, post_json
from simulator.github.jitconfig import InvalidJitConfig, decode_jit_config


class GitHubGuest:
    async def run(self, ctx: GuestContext, files: RunnerFiles) -> None:
        try:
            jit = decode_jit_config(files.secret)
        except InvalidJitConfig as exc:
            raise GuestError(f"runner: the JIT config cannot be read ({exc})") from None
        server = jit.server_url.rstrip("/")
        ctx.console(f"runner: {jit.agent_name} connecting to {server}")
        answer = await post_json(
            ctx,
            f"{server}/_sim/runner/connect",
            {"jitconfig": files.secret},
            server=server,
            refused="registration rejected",
        )
        runner_id = int(answer["runner_id"])
        ctx.report(runner_id=runner_id, runner_name=answer.get("runner_name"), connected=True)
        ctx.console("√ Connected to GitHub")
        ctx.console("Listening for Jobs")
        try:
            await self._until_exited(ctx, server, jit.token, runner_id)
        except asyncio.CancelledError:
            # The VM is going away (deleted, stopped, evicted) with the runner still running.
            ctx.detach(_host_lost(ctx, server, jit.token, runner_id))
            raise

    @staticmethod
    async def _until_exited(ctx: GuestContext, server: str, token: str, runner_id: int) -> None:
        url = f"{server}/_sim/runner/{runner_id}"
        headers = {"Authorization": f"Bearer {token}"}
        last: tuple[str, Any] | None = None
        contact = Contact(server)
        while True:
            await ctx.clock.sleep(ctx.poll_s)
            try:
                async with ctx.http.get(url, headers=headers) as resp:
                    if resp.status != 200:
                        raise GuestError(f"runner: status check answered HTTP {resp.status}")
                    state = await resp.json()
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                contact.lost(exc)
                continue
            contact.kept()
            current = (str(state.get("status")), state.get("job_id"))
            if current != last:
                _narrate(ctx, current, last)
                ctx.report(status=current[0], job_id=current[1])
                last = current
            if current[0] == "exited":
                return


async def _host_lost(ctx: GuestContext, server: str, token: str, runner_id: int) -> None:
    """Tell the GitHub simulator what GitHub would notice by itself: the runner's listener and its
    job's lock renewals stopped with the machine."""
    url = f"{server}/_sim/runner/{runner_id}/host-lost"
    try:
        async with ctx.http.post(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            await resp.read()
    except (aiohttp.ClientError, TimeoutError, RuntimeError):
        pass  # the simulators are stopping: nobody is left to assign a job


def _narrate(ctx: GuestContext, current: tuple[str, Any], last: tuple[str, Any] | None) -> None:
    status, job_id = current
    if status == "busy":
        ctx.console(f"Running job: {job_id}")
    elif status == "exited":
        if last is not None and last[0] == "busy":
            ctx.console(f"Job {last[1]} completed")
        ctx.console("runner: exited")
