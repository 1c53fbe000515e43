"""The whole service against the simulators, in this process: forges, ARM, function host instances.

Like `runner-fleet demo`, but the host runs without its timers: the benchmarks run the reconciler
themselves, on a faster cadence and with a clock ahead of real time (`ReconcileCadence`), because
the service's timeouts are real seconds and cannot be shorter than a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bench.killer import KillableState, KillSwitch, killable_index, killable_registries
from runner_fleet import runtime
from runner_fleet.cli.serve import host_json_path
from runner_fleet.host.hostjson import read_queue_settings
from runner_fleet.host.index import AppIndex, index_app
from runner_fleet.host.local import LocalHost
from runner_fleet.logs import get_logger
from runner_fleet.usecases.reconcile.reconciler import Reconciler
from runner_fleet_dev.simulated import connect_forges, simulated_runtime
from simulator.arm import ArmConfig
from simulator.github import GitHubSimConfig
from simulator.gitlab import GitLabSimConfig
from simulator.stack import SimulatedCloud

log = get_logger("bench.stack")


@dataclass(frozen=True)
class ReconcileCadence:
    """How the benchmarks run the reconciler (in production: every minute, on the real clock).

    Its clock runs `clock_ahead_s` ahead, so a pool's 60 s boot timeout takes effect after
    `60 - clock_ahead_s` real seconds. Durations that the reconciler measures on its own clock
    alone (idle time) are not shortened; the webhook grace and the suspect confirmation are given
    back the offset so that they keep the real-time values below.
    """

    every_s: float = 5.0
    clock_ahead_s: float = 40.0
    webhook_grace_s: float = 15.0  # real seconds a waiting job is left to the webhook path
    confirm_after_s: float = 0.0  # real seconds between marking a suspect and acting on it (one round)
    reenqueue_after_s: float = 60.0  # real seconds before a recovered job's copy is sent again

    def apply(self, reconciler: Reconciler) -> Reconciler:
        ahead = self.clock_ahead_s
        return replace(
            reconciler,
            now=lambda: time.time() + ahead,
            confirm_after_s=self.confirm_after_s + ahead,
            webhook_grace_s=self.webhook_grace_s + ahead,
            reenqueue_after_s=self.reenqueue_after_s,
        )

    def describe(self, boot_timeout_s: float) -> dict[str, float]:
        return {
            "every_s": self.every_s,
            "clock_ahead_s": self.clock_ahead_s,
            "effective_boot_timeout_s": max(0.0, boot_timeout_s - self.clock_ahead_s),
            "webhook_grace_s": self.webhook_grace_s,
            "confirm_after_s": self.confirm_after_s,
            "reenqueue_after_s": self.reenqueue_after_s,
        }


@dataclass
class ReconcileTally:
    rounds: int = 0
    failed_rounds: int = 0
    marked: int = 0
    acted: int = 0
    jobs_enqueued: int = 0
    redelivered: int = 0
    repositories_scanned: int = 0
    repositories_skipped: int = 0  # left for a later round because the request budget ran short
    errors: int = 0
    slowest_round_s: float = 0.0
    actions: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class BenchStack:
    cloud: SimulatedCloud
    rt: runtime.Runtime
    hosts: list[LocalHost]
    switch: KillSwitch | None
    url: str = ""
    tally: ReconcileTally = field(default_factory=ReconcileTally)
    _reconciling: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        *,
        time_scale: float,
        arm_config: ArmConfig,
        github_config: GitHubSimConfig,
        gitlab_config: GitLabSimConfig,
        environment: Mapping[str, str],
        instances: int = 1,
        kill_switch: Callable[[runtime.Runtime], KillSwitch] | None = None,
    ) -> BenchStack:
        cloud = await asyncio.to_thread(
            SimulatedCloud.start,
            time_scale=time_scale,
            arm_config=arm_config,
            github_config=github_config,
            gitlab_config=gitlab_config,
        )
        hosts: list[LocalHost] = []
        try:
            rt = simulated_runtime(cloud, environment)
            runtime.install(rt)
            switch = kill_switch(rt) if kill_switch is not None else None
            index = index_app()
            if switch is not None:
                rt.state = KillableState(rt.table, switch)
                rt.registry_factories = killable_registries(rt.registry_factories, switch)
                index = killable_index(index, switch)
            else:
                index = AppIndex(index.http, index.queues, ())
            settings = read_queue_settings(host_json_path())
            # Several instances polling the same queues: the Functions scale-out, in one process.
            hosts = [LocalHost(index, rt.queue, settings, port=0) for _ in range(max(1, instances))]
            urls = [await host.start() for host in hosts]
            connect_forges(cloud, rt, urls[0])
        except BaseException:
            for host in hosts:
                await host.stop()
            runtime.install(None)
            await asyncio.to_thread(cloud.stop)
            raise
        return cls(cloud, rt, hosts, switch, urls[0])

    # -- the reconciler -------------------------------------------------------------------------
    def start_reconciling(self, cadence: ReconcileCadence) -> None:
        self._reconciling = asyncio.create_task(self._reconcile_forever(cadence), name="bench-reconcile")

    async def stop_reconciling(self) -> None:
        if self._reconciling is not None:
            self._reconciling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciling
            self._reconciling = None

    async def _reconcile_forever(self, cadence: ReconcileCadence) -> None:
        tally = self.tally
        while True:
            started = time.monotonic()
            try:
                report = await cadence.apply(self.rt.reconciler())()
            except Exception:
                log.exception("bench.reconcile_failed")
                tally.failed_rounds += 1
            else:
                tally.marked += len(report.marked)
                tally.acted += len(report.acted)
                tally.jobs_enqueued += len(report.jobs_enqueued)
                tally.redelivered += report.redelivered
                tally.repositories_scanned += report.repositories_scanned
                tally.repositories_skipped += report.repositories_skipped
                tally.errors += len(report.errors)
                for acted in report.acted:
                    reason = str(acted.get("reason", "")).split(" (")[0]
                    tally.actions[reason] = tally.actions.get(reason, 0) + 1
            elapsed = time.monotonic() - started
            tally.rounds += 1
            tally.slowest_round_s = max(tally.slowest_round_s, round(elapsed, 3))
            await asyncio.sleep(max(0.0, cadence.every_s - elapsed))

    # -- shutdown -------------------------------------------------------------------------------
    async def stop(self) -> None:
        await self.stop_reconciling()
        try:
            for host in self.hosts:
                await host.stop()
            await self.rt.aclose()
        finally:
            runtime.install(None)
            await asyncio.to_thread(self.cloud.stop)
