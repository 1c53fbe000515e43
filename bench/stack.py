"""The whole service against the simulators, in this process: forges, ARM, function host instances.

Like `runner-fleet demo`, but the host runs without its timers: the benchmarks run the reconciler
themselves, on a faster cadence and with a clock ahead of real time (`ReconcileCadence`), because
the service's timeouts are real seconds and cannot be shorter than a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from bench.cli import StorageKind
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

if TYPE_CHECKING:
    from tests.azurite import Azurite

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
    """The simulators and the host instances (`hosts`), on the runtimes in `runtimes` (`start`).

    `rt` is the first instance's runtime: the one the benchmark reconciles with (the reconciler is
    a timer, which Azure Functions runs on one instance at a time) and the forges' webhooks reach.
    """

    cloud: SimulatedCloud
    rt: runtime.Runtime
    hosts: list[LocalHost]
    switch: KillSwitch | None
    url: str = ""
    runtimes: list[runtime.Runtime] = field(default_factory=list)
    storage: StorageKind = "memory"
    azurite: Azurite | None = None
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
        storage: StorageKind = "memory",
        kill_switch: Callable[[runtime.Runtime], KillSwitch] | None = None,
    ) -> BenchStack:
        """Start the simulators, the storage and `instances` host instances on it.

        `storage` "azurite": a private Azurite, and each instance what a process of its own would
        hold: a runtime built by the composition root (`simulated_runtime`, i.e. `build_runtime`)
        with its own queue and table adapters (from the storage setting, on the one Azurite
        account) and its own Azure and forge clients, and a `LocalHost` whose functions run with
        that runtime (`runtime.serving`). "memory": one runtime, whose in-memory queue and table
        every instance's `LocalHost` shares.
        """
        cloud = await asyncio.to_thread(
            SimulatedCloud.start,
            time_scale=time_scale,
            arm_config=arm_config,
            github_config=github_config,
            gitlab_config=gitlab_config,
        )
        hosts: list[LocalHost] = []
        runtimes: list[runtime.Runtime] = []
        azurite: Azurite | None = None
        try:
            count = max(1, instances)
            if storage == "azurite":
                azurite = await asyncio.to_thread(_start_azurite)
                # The Functions storage setting, as each instance's process would read it.
                environment = {**environment, "AzureWebJobsStorage": azurite.connection_string}
                runtimes = [simulated_runtime(cloud, environment) for _ in range(count)]
                per_host = runtimes
            else:
                runtimes = [simulated_runtime(cloud, environment)]
                per_host = runtimes * count
            rt = runtimes[0]
            runtime.install(rt)
            switch = kill_switch(rt) if kill_switch is not None else None
            index = index_app()
            if switch is not None:
                for each in runtimes:
                    each.state = KillableState(each.table, switch)
                    each.registry_factories = killable_registries(each.registry_factories, switch)
                index = killable_index(index, switch)
            else:
                index = AppIndex(index.http, index.queues, ())
            settings = read_queue_settings(host_json_path())
            # Several instances polling the same queues: the Functions scale-out, in one process.
            hosts = [LocalHost(serving(index, each), each.queue, settings, port=0) for each in per_host]
            urls = [await host.start() for host in hosts]
            connect_forges(cloud, rt, urls[0])
        except BaseException:
            for host in hosts:
                await host.stop()
            await _close(runtimes)
            runtime.install(None)
            await asyncio.to_thread(cloud.stop)
            if azurite is not None:
                await asyncio.to_thread(azurite.stop)
            raise
        return cls(cloud, rt, hosts, switch, urls[0], runtimes, storage, azurite)

    def invocations(self) -> list[dict[str, int]]:
        """Per host instance, in order: how often it ran each function (evidence of the scale-out)."""
        return [dict(sorted(host.invocations.items())) for host in self.hosts]

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
            await _close(self.runtimes or [self.rt])
        finally:
            runtime.install(None)
            try:
                await asyncio.to_thread(self.cloud.stop)
            finally:
                if self.azurite is not None:
                    await asyncio.to_thread(self.azurite.stop)


def serving(index: AppIndex, rt: runtime.Runtime) -> AppIndex:
    """`index` with every HTTP and queue function run with `rt` as its runtime (`runtime.serving`)."""
    return AppIndex(
        tuple(replace(f, handler=_serving(f.handler, rt)) for f in index.http),
        tuple(replace(f, handler=_serving(f.handler, rt)) for f in index.queues),
        tuple(replace(f, handler=_serving(f.handler, rt)) for f in index.timers),
    )


def _serving(handler: Callable[..., Any], rt: runtime.Runtime) -> Callable[..., Any]:
    async def run(**kwargs: Any) -> Any:
        with runtime.serving(rt):
            result = handler(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

    return run


def _start_azurite() -> Azurite:
    # The launcher the storage tests use: the npm package pinned in package.json (or AZURITE_BIN).
    from tests.azurite import Azurite

    azurite = Azurite()
    azurite.start()
    return azurite


async def _close(runtimes: list[runtime.Runtime]) -> None:
    """Close every runtime (each its own clients), even when one of them fails to."""
    failures: list[BaseException] = []
    for each in runtimes:
        try:
            await each.aclose()
        except Exception as error:
            failures.append(error)
    if failures:
        raise failures[0]
