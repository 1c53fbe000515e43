"""The composition root: builds the adapters from settings once per process and hands out use cases.

The webhook path needs only the queue, the state table and the pools; the Azure management and
forge clients are built on first use by queue or timer work, so importing them never slows a webhook.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from runner_fleet.cost.metering import Metering
from runner_fleet.cost.prices import PriceBook, load_prices
from runner_fleet.forges import FORGES, Forge
from runner_fleet.logs import configure_default, get_logger, register_secret
from runner_fleet.ports.compute import Compute
from runner_fleet.ports.feeds import JobFeed
from runner_fleet.ports.forge import RunnerRegistry
from runner_fleet.ports.forge_access import ForgeAccess
from runner_fleet.ports.jobs import JobResolver
from runner_fleet.ports.preflight import PreflightGate
from runner_fleet.ports.queue import WorkQueue
from runner_fleet.settings import Pool, ServiceSettings, load_pools, load_service_settings
from runner_fleet.state.store import FleetState
from runner_fleet.state.table import StateTable
from runner_fleet.state.usage import UsageLog
from runner_fleet.telemetry.setup import configure as configure_telemetry
from runner_fleet.usecases.accept_github_webhook import GitHubIntake
from runner_fleet.usecases.accept_gitlab_webhook import GitLabIntake
from runner_fleet.usecases.create_runner import CreateChecks, RunnerCreation
from runner_fleet.usecases.deregister import Deregisterer
from runner_fleet.usecases.outcome import rejections
from runner_fleet.usecases.provision import Provisioner
from runner_fleet.usecases.provision_pool_runner import PoolRunnerProvisioner
from runner_fleet.usecases.reconcile.reconciler import Reconciler
from runner_fleet.usecases.release import Releaser
from runner_fleet.usecases.replace_runner import RunnerReplacer
from runner_fleet.warm.demand import DEMAND_RETENTION, DemandLog
from runner_fleet.workers import ProvisionWork

if TYPE_CHECKING:  # the Azure SDKs load only when a runtime builds its compute
    from runner_fleet.adapters.azure.compute import AzureCompute

log = get_logger("runtime")

DELIVERY_RETENTION = timedelta(days=3)  # GitHub keeps deliveries for redelivery this long
RECOVERY_RETENTION = timedelta(days=1)  # far longer than any job waits for a runner
# How long a finished (`done`) job record is kept. It tells a provision for that job to make nothing,
# but it is the second guard: every provision first asks the forge whether the job still waits (GitHub:
# queued; GitLab: pending), so a late, redelivered or replayed webhook for a finished job is turned
# away whatever this table holds. The record covers the moments between that answer and the claim, and
# a provision without a resolver. Kept as long as the delivery rows (3 days, GitHub's redelivery
# window): while GitHub may still send anything about the job both guards hold, and a redelivery under
# the same ID meets its delivery row as well. That is also longer than any job can wait (GitHub cancels
# a queued self-hosted job after 24 h, GitLab drops a pending one after 1 h): no provision for a purged
# job can find it waiting.
JOB_RETENTION = DELIVERY_RETENTION
# A record never settled (a job whose end we did not hear of: its `completed` hook lost past the
# redelivery window, or a GitLab end the forge did not confirm) is only ever read for a job the forge
# says is waiting, and after 24 h no job is. A week leaves a wide margin (GitHub's 3-day redelivery
# window, its 5-day limit on a self-hosted job's run) and the purge never deletes a running lease.
ABANDONED_JOB_RETENTION = timedelta(days=7)


# Forges whose job-end hooks are checked against the forge before a VM is deleted.
CONFIRMED_RELEASES = frozenset({"gitlab"})


@dataclass
class Runtime:
    settings: ServiceSettings
    pools: tuple[Pool, ...]
    queue: WorkQueue
    table: StateTable
    compute_factory: Callable[[], Compute]
    registry_factories: Mapping[Forge, Callable[[], RunnerRegistry]]
    ssh_public_key_factory: Callable[[], str] | None = None
    resolver_factories: Mapping[Forge, Callable[[], JobResolver]] = field(default_factory=dict)
    preflight_factory: Callable[[], PreflightGate] | None = None
    feed_factories: Mapping[Forge, Callable[[], JobFeed]] = field(default_factory=dict)
    # Per forge, what checks a pool's scope on the forge before its first VM (GitHub: its runner group).
    access_factories: Mapping[Forge, Callable[[], ForgeAccess]] = field(default_factory=dict)
    create_checks: CreateChecks = field(default_factory=CreateChecks)
    # VM prices for the usage rows (the admin's table over the shipped one).
    prices: PriceBook = field(default_factory=PriceBook)
    _compute: Compute | None = field(default=None, init=False)
    _preflight: PreflightGate | None = field(default=None, init=False)
    _forge_gate: PreflightGate | None = field(default=None, init=False)
    _registries: dict[Forge, RunnerRegistry] = field(default_factory=dict, init=False)
    _resolvers: dict[Forge, JobResolver] = field(default_factory=dict, init=False)
    _feeds: dict[Forge, JobFeed] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for secret in (
            self.settings.github_webhook_secret,
            self.settings.github_app_private_key,
            self.settings.github_token,
            self.settings.gitlab_token,
            self.settings.gitlab_webhook_token,
            self.settings.gitlab_webhook_signing_token,
        ):
            if secret is not None:
                register_secret(secret.get_secret_value(), keep=True)
        self.state = FleetState(self.table)
        self.pools_by_name = {pool.name: pool for pool in self.pools}

    # -- webhook path ---------------------------------------------------------------------------
    def github_intake(self) -> GitHubIntake:
        secret = self.settings.github_webhook_secret
        return GitHubIntake(
            secret=secret.get_secret_value().encode() if secret else b"",
            pools=self.pools,
            queue=self.queue,
            state=self.state,
        )

    def gitlab_intake(self) -> GitLabIntake:
        token = self.settings.gitlab_webhook_token
        signing = self.settings.gitlab_webhook_signing_token
        return GitLabIntake(
            token=token.get_secret_value().encode() if token else b"",
            pools=self.pools,
            queue=self.queue,
            state=self.state,
            signing_token=signing.get_secret_value() if signing else None,
        )

    # -- queue and timer work -------------------------------------------------------------------
    @property
    def compute(self) -> Compute:
        if self._compute is None:
            self._compute = self.compute_factory()
        return self._compute

    def registry(self, forge: Forge) -> RunnerRegistry:
        if forge not in self._registries:
            self._registries[forge] = self.registry_factories[forge]()
        return self._registries[forge]

    @property
    def preflight(self) -> PreflightGate | None:
        if self._preflight is None and self.preflight_factory is not None:
            self._preflight = self.preflight_factory()
        return self._preflight

    @property
    def forge_gate(self) -> PreflightGate | None:
        if self._forge_gate is None and self.access_factories:
            from runner_fleet.preflight.forge_gate import ForgeAccessGate

            self._forge_gate = ForgeAccessGate(self.access_factories)
        return self._forge_gate

    def resolvers(self) -> dict[Forge, JobResolver]:
        for forge, build in self.resolver_factories.items():
            if forge not in self._resolvers:
                self._resolvers[forge] = build()
        return self._resolvers

    def _lazy_registries(self) -> Mapping[Forge, RunnerRegistry]:
        return _LazyRegistries(self)

    def _creation(self) -> RunnerCreation:
        from runner_fleet.sshkey import unusable_public_key

        key = self.ssh_public_key_factory() if self.ssh_public_key_factory else unusable_public_key()
        return RunnerCreation(
            self.state,
            self.compute,
            self._lazy_registries(),
            key,
            checks=self.create_checks,
            preflight=self.preflight,
        )

    def provisioner(self) -> Provisioner:
        return Provisioner(
            self.pools_by_name,
            self.state,
            self._creation(),
            resolvers=self.resolvers(),
            preflight=self.preflight,
            forge_gate=self.forge_gate,
        )

    def replacer(self) -> RunnerReplacer:
        return RunnerReplacer(self.pools_by_name, self.state, self.queue)

    def provision_work(self) -> ProvisionWork:
        """Everything the provision queue's messages need: job provisions, pool runners, replacements."""
        pool_provisioner = PoolRunnerProvisioner(
            self.pools_by_name,
            self.state,
            self._creation(),
            preflight=self.preflight,
            forge_gate=self.forge_gate,
        )
        return ProvisionWork(self.provisioner(), pool_provisioner, self.replacer())

    def releaser(self) -> Releaser:
        # GitHub's hooks are HMAC-signed and each delivery is taken once, so a `completed` is GitHub's
        # word; asking again would cost a request per job (about 1,000 an hour at full load) for
        # nothing. GitLab's may be guarded by a shared token alone, so its word is checked.
        confirmers = {forge: r for forge, r in self.resolvers().items() if forge in CONFIRMED_RELEASES}
        return Releaser(
            self.pools_by_name,
            self.state,
            self.compute,
            self._lazy_registries(),
            confirmers=confirmers,
            metering=self.metering(),
        )

    def metering(self) -> Metering:
        return Metering(self.state, self.prices)

    def deregisterer(self) -> Deregisterer:
        return Deregisterer(self.pools_by_name, self.state, self._lazy_registries(), replacer=self.replacer())

    def reconciler(self) -> Reconciler:
        forges = {pool.forge for pool in self.pools}
        for forge, build in self.feed_factories.items():
            if forge in forges and forge not in self._feeds:
                self._feeds[forge] = build()
        registries: dict[Forge, RunnerRegistry] = {forge: self.registry(forge) for forge in forges}
        return Reconciler(
            self.pools_by_name,
            self.state,
            self.compute,
            registries,
            self.queue,
            feeds=self._feeds,
            demand=DemandLog(self.table),
            metering=self.metering(),
            waited_with_capacity_s=self.settings.waited_with_capacity_s,
        )

    async def reconcile_round(self) -> None:
        """What the every-minute timer does: one reconcile round, and the rejected-webhook lines a
        flood made the log hold back (their counts would otherwise wait for the next rejection)."""
        await self.reconciler()()
        rejections().flush(get_logger("webhook"))

    async def housekeeping(self) -> dict[Forge, int]:
        removed = {forge: await self.state.purge_deliveries(forge, DELIVERY_RETENTION) for forge in FORGES}
        recoveries = {forge: await self.state.purge_recoveries(forge, RECOVERY_RETENTION) for forge in FORGES}
        # A job ends within its runner's maximum timeout; a day covers every binding still needed.
        await self.state.purge_bindings("gitlab", RECOVERY_RETENTION)
        for forge in FORGES:
            await self.state.purge_pool_runners(forge, ABANDONED_JOB_RETENTION)
        await DemandLog(self.table).purge(DEMAND_RETENTION)
        await UsageLog(self.table).purge()  # usage days after 35 days, job starts after 7
        jobs = {
            forge: await self.state.purge_jobs(
                forge, finished_for=JOB_RETENTION, abandoned_for=ABANDONED_JOB_RETENTION
            )
            for forge in FORGES
        }
        log.info(
            "housekeeping.done",
            deliveries_removed=sum(removed.values()),
            recoveries_removed=sum(recoveries.values()),
            jobs_removed=sum(jobs.values()),
        )
        return removed

    async def aclose(self) -> None:
        if self._compute is not None:
            await self._compute.close()
        for registry in self._registries.values():
            await registry.close()
        for resolver in self._resolvers.values():
            await resolver.close()
        if self._preflight is not None:
            await self._preflight.close()
        if self._forge_gate is not None:
            await self._forge_gate.close()
        for feed in self._feeds.values():
            await feed.close()
        await self.queue.close()
        await self.table.close()


class _LazyRegistries(Mapping[Forge, RunnerRegistry]):
    """Forge clients built on first use, so a GitHub-only fleet never constructs a GitLab client."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def __getitem__(self, forge: Forge) -> RunnerRegistry:
        return self._runtime.registry(forge)

    def __iter__(self) -> Any:
        return iter(self._runtime.registry_factories)

    def __len__(self) -> int:
        return len(self._runtime.registry_factories)


class _GitLabClients:
    """One python-gitlab client shared by the GitLab registry and job resolver, built on first use."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._client: Any = None

    def get(self) -> Any:
        if self._client is None:
            from runner_fleet.adapters.gitlab.client import GitLabClient

            url, token = self._settings.gitlab_url, self._settings.gitlab_token
            if not url or token is None:
                raise RuntimeError("GITLAB_URL and GITLAB_TOKEN are needed for GitLab pools")
            self._client = GitLabClient(url, token.get_secret_value())
        return self._client


@dataclass(frozen=True)
class ForgeFactories:
    """Per forge, how to build its registry, job resolver, job feed and the check of a pool's scope
    that gates provisioning; nothing is built until used."""

    registries: dict[Forge, Callable[[], RunnerRegistry]]
    resolvers: dict[Forge, Callable[[], JobResolver]]
    feeds: dict[Forge, Callable[[], JobFeed]]
    access: dict[Forge, Callable[[], ForgeAccess]] = field(default_factory=dict)


def forge_factories(settings: ServiceSettings, table: StateTable | None = None) -> ForgeFactories:
    """`table`, when given, lets the GitHub feed read which repositories recent webhooks named."""
    gitlab_clients = _GitLabClients(settings)
    github_auth = _GitHubAuths(settings)

    def gitlab_registry() -> RunnerRegistry:
        from runner_fleet.adapters.gitlab.registry import GitLabRegistry

        return GitLabRegistry(gitlab_clients.get())

    def gitlab_resolver() -> JobResolver:
        from runner_fleet.adapters.gitlab.jobs import GitLabJobResolver

        return GitLabJobResolver(gitlab_clients.get())

    def gitlab_feed() -> JobFeed:
        from runner_fleet.adapters.gitlab.feed import GitLabFeed

        return GitLabFeed(gitlab_clients.get())

    def github_registry() -> RunnerRegistry:
        from runner_fleet.adapters.github.registry import GitHubRegistry

        return GitHubRegistry(github_auth.get(), base_url=settings.github_api_url)

    def github_resolver() -> JobResolver:
        from runner_fleet.adapters.github.jobs import GitHubJobResolver

        return GitHubJobResolver(github_auth.get())

    def github_access() -> ForgeAccess:
        from runner_fleet.adapters.github.access import GitHubAccess

        return GitHubAccess(github_auth.get(), base_url=settings.github_api_url)

    def github_feed() -> JobFeed:
        from runner_fleet.adapters.github.feed import GitHubFeed
        from runner_fleet.state.recent_repositories import RecentRepositories

        key = settings.github_app_private_key
        return GitHubFeed(
            github_auth.get(),
            base_url=settings.github_api_url,
            app_id=settings.github_app_id,
            private_key=key.get_secret_value() if key else None,
            recent=RecentRepositories(table) if table is not None else None,
        )

    return ForgeFactories(
        registries={"github": github_registry, "gitlab": gitlab_registry},
        resolvers={"github": github_resolver, "gitlab": gitlab_resolver},
        feeds={"github": github_feed, "gitlab": gitlab_feed},
        # The runner group decides who may take a runner: a pool whose group is wrong gets no VM.
        access={"github": github_access},
    )


def forge_access(settings: ServiceSettings, forges: set[Forge]) -> dict[Forge, ForgeAccess]:
    """What `doctor` asks each forge about the service's own credentials, where they are set."""
    access: dict[Forge, ForgeAccess] = {}
    if "gitlab" in forges and settings.gitlab_url and settings.gitlab_token is not None:
        from runner_fleet.adapters.gitlab.access import GitLabAccess

        access["gitlab"] = GitLabAccess(_GitLabClients(settings).get())
    if "github" in forges and (settings.github_uses_app or settings.github_token is not None):
        from runner_fleet.adapters.github.access import GitHubAccess

        access["github"] = GitHubAccess(_GitHubAuths(settings).get(), base_url=settings.github_api_url)
    return access


class _GitHubAuths:
    """One GitHub credential holder (and token cache) shared by the registry and the feed."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._auth: Any = None

    def get(self) -> Any:
        if self._auth is None:
            from runner_fleet.adapters.github.auth import GitHubAuth, GitHubClientOptions

            settings = self._settings
            key, token = settings.github_app_private_key, settings.github_token
            self._auth = GitHubAuth(
                GitHubClientOptions(base_url=settings.github_api_url),
                app_id=settings.github_app_id,
                private_key=key.get_secret_value() if key else None,
                token=token.get_secret_value() if token else None,
            )
        return self._auth


def azure_compute_factory(
    settings: ServiceSettings, *, credential: Callable[[], Any] | None = None, polling_interval_s: float = 5.0
) -> Callable[[], AzureCompute]:
    def build() -> AzureCompute:
        from runner_fleet.adapters.azure.clients import arm_connection
        from runner_fleet.adapters.azure.compute import AzureCompute

        return AzureCompute(
            arm_connection(
                settings.arm_endpoint,
                ca_bundle=settings.arm_ca_bundle_path,
                credential=credential,
                polling_interval_s=polling_interval_s,
            )
        )

    return build


def build_runtime(
    environ: Mapping[str, str],
    *,
    storage: tuple[WorkQueue, StateTable] | None = None,
    example_pools: bool = False,
    credential: Callable[[], Any] | None = None,
    polling_interval_s: float = 5.0,
) -> Runtime:
    """The one composition root: production, `serve`, the demo, tests and benchmarks all build here.

    Production passes only the environment. The rest is for running against the simulators:
    `storage` (default: Azure Storage from AzureWebJobsStorage), `example_pools` (the built-in
    example when no pools are configured), `credential` (a factory; default DefaultAzureCredential,
    in Azure the Function App's managed identity) and the long-running-operation polling interval.
    """
    from runner_fleet.preflight.factory import azure_preflight_factory

    settings = load_service_settings(environ)
    pools = load_pools(settings, use_example=example_pools)
    # Metrics and traces, when the environment names an exporter (once per process).
    configure_telemetry(environ)
    if storage is None:
        from runner_fleet.adapters.storage import storage_from_settings

        storage = storage_from_settings(environ)
    queue, table = storage
    forges = forge_factories(settings, table)
    return Runtime(
        settings,
        pools,
        queue,
        table,
        azure_compute_factory(settings, credential=credential, polling_interval_s=polling_interval_s),
        forges.registries,
        resolver_factories=forges.resolvers,
        feed_factories=forges.feeds,
        access_factories=forges.access,
        preflight_factory=azure_preflight_factory(
            settings, pools, credential=credential, polling_interval_s=polling_interval_s
        ),
        create_checks=CreateChecks.for_polling(polling_interval_s),
        prices=load_prices(settings),
    )


def from_environment(environ: Mapping[str, str] | None = None) -> Runtime:
    """The runtime Azure Functions runs: Azure Storage for queue and state, Azure and forge APIs."""
    return build_runtime(os.environ if environ is None else environ)


_current: Runtime | None = None
_factory: Callable[[], Runtime] = from_environment
# Set only where several local host instances share one process (`serving`); never in Azure.
_serving: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar(
    "runner_fleet_runtime", default=None
)


def install(runtime: Runtime | None) -> None:
    """Use `runtime` for every function invocation in this process (the local host and tests)."""
    global _current  # noqa: PLW0603 - one runtime per process, as the Functions worker has one app
    _current = runtime


@contextlib.contextmanager
def serving(runtime: Runtime) -> Iterator[None]:
    """Use `runtime` instead of the process's for what runs in this context (and the tasks it starts).

    For host instances that share one process but must not share a runtime: each runs its functions
    in `serving(its_runtime)`, so each has the adapters a process of its own would have built.
    """
    token = _serving.set(runtime)
    try:
        yield
    finally:
        _serving.reset(token)


def current() -> Runtime:
    global _current  # noqa: PLW0603 - one runtime per process, as the Functions worker has one app
    scoped = _serving.get()
    if scoped is not None:
        return scoped
    if _current is None:
        configure_default()
        _current = _factory()
    return _current


def startup_check() -> None:
    """Fail the function host's start with a clear message when the settings are unusable; turn
    metrics and traces export on when the environment asks for it."""
    if _current is None:
        settings = load_service_settings()
        load_pools(settings)
        load_prices(settings)
    # At the host's start, not on a first request: the Azure Monitor distro takes about half a second.
    configure_telemetry()
