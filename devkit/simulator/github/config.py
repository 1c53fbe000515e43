"""What the simulated GitHub knows before it starts: the App, its installations, accounts, timing."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from simulator.forge import ForgeSimConfig

AccountType = Literal["Organization", "User"]
RunnerGroupVisibility = Literal["all", "selected", "private"]

DEFAULT_RUNNER_GROUP_ID = 1
DEFAULT_RUNNER_GROUP_NAME = "Default"


@dataclass(frozen=True)
class Account:
    login: str
    id: int
    type: AccountType = "Organization"
    # An organisation's members: an App installation on it gets more requests an hour past 20.
    members: int = 1


@dataclass(frozen=True)
class PrimaryRateLimit:
    """GitHub's hourly REST budget per credential ("Rate limits for the REST API").

    An installation gets `base` requests an hour, plus `per_extra` for each repository over
    `free_extras` and, on an organisation, each member over `free_extras`, up to `cap`; a personal
    access token gets `user_limit`. The window is one simulated hour (`window_s`).
    """

    enabled: bool = True
    base: int = 5000
    per_extra: int = 50
    free_extras: int = 20
    cap: int = 12500
    user_limit: int = 5000
    window_s: float = 3600.0
    # GitHub answers an exhausted primary limit with 403 or 429; REST has answered 403.
    status: Literal[403, 429] = 403

    def installation_limit(self, account: Account, repositories: int) -> int:
        extra = max(0, repositories - self.free_extras)
        if account.type == "Organization":
            extra += max(0, account.members - self.free_extras)
        return min(self.cap, self.base + self.per_extra * extra)


@dataclass(frozen=True)
class PointsLimit:
    """GitHub's secondary limit on requests to one endpoint ("Rate limits for the REST API"): "no
    more than 900 points per minute are allowed for REST API endpoints"; most GET, HEAD and OPTIONS
    requests cost 1 point, most POST, PATCH, PUT and DELETE requests 5 ("Calculating points for the
    secondary rate limit"). Counted per credential and route over a sliding window of `window_s`
    simulated seconds; it guards the JIT registration routes, or every REST route with `all_routes`.
    """

    enabled: bool = True
    points_per_window: int = 900
    window_s: float = 60.0
    read_cost: int = 1
    write_cost: int = 5
    all_routes: bool = False

    def cost(self, method: str) -> int:
        return self.read_cost if method.upper() in ("GET", "HEAD", "OPTIONS") else self.write_cost


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str
    id: int
    private: bool = True
    default_branch: str = "main"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class RunnerGroup:
    """An organisation runner group and who may use its runners ("Managing access to self-hosted
    runners using groups"); the REST fields of the same names."""

    id: int
    name: str
    # all: every private repository of the org; selected: those listed; private: private ones only.
    visibility: RunnerGroupVisibility = "all"
    selected_repositories: tuple[str, ...] = ()  # owner/name, for `selected`
    allows_public_repositories: bool = False
    restricted_to_workflows: bool = False
    # `owner/repo/.github/workflows/file.yml@ref`; the ref a branch name, `refs/heads/...` or a SHA.
    selected_workflows: tuple[str, ...] = ()

    def admits(self, repo: Repository, workflow_refs: Collection[str]) -> bool:
        """Whether a job of `repo` whose workflow is known by `workflow_refs` may use this group."""
        if not repo.private and not self.allows_public_repositories:
            return False
        if self.visibility == "selected":
            selected = {name.casefold() for name in self.selected_repositories}
            if repo.full_name.casefold() not in selected:
                return False
        if self.visibility == "private" and not repo.private:
            return False
        if self.restricted_to_workflows:
            allowed = {ref.casefold() for ref in self.selected_workflows}
            return any(ref.casefold() in allowed for ref in workflow_refs)
        return True


@dataclass(frozen=True)
class GitHubSimConfig(ForgeSimConfig):
    app_id: int = 424242
    app_slug: str = "runner-fleet"
    # PEM (PKCS#8 or PKCS#1) of the App's RSA key; generated at start-up when None.
    app_private_key_pem: str | None = None
    accounts: tuple[Account, ...] = (
        Account("acme", 90001, "Organization"),
        Account("octocat", 583231, "User"),
    )
    repositories: tuple[Repository, ...] = (
        Repository("acme", "web", 700001),
        Repository("acme", "api", 700002),
        Repository("octocat", "hello-world", 700003, private=False),
    )
    # account login -> installation id of the App on that account
    installations: Mapping[str, int] = field(default_factory=lambda: {"acme": 45000001, "octocat": 45000002})
    # Organisation runner groups besides id 1 "Default", which always exists (each organisation has
    # them all; a `selected` group's repositories are named in full).
    runner_groups: tuple[RunnerGroup, ...] = ()
    default_runner_group: RunnerGroup = RunnerGroup(DEFAULT_RUNNER_GROUP_ID, DEFAULT_RUNNER_GROUP_NAME)
    # A personal access token accepted everywhere an installation token is.
    static_token: str = "ghp_SimulatedStaticToken0000000000000000"  # noqa: S105 - a simulator's fake
    # The user named as `sender` of workflow_job events.
    sender: Account = Account("octocat", 583231, "User")
    # Durations below are simulated seconds (scaled by the SimClock) unless they say "real".
    hosted_pickup_s: float = 2.0
    queued_job_timeout_s: float = 24 * 3600.0
    # An ephemeral (JIT) runner that never connects is removed after a day.
    unconnected_runner_ttl_s: float = 24 * 3600.0
    delivery_retention_s: float | None = 3 * 24 * 3600.0  # GitHub keeps deliveries for three days
    registration_window_s: float = 300.0
    registrations_per_window: int = 1500
    # Points per minute per endpoint: 900, a generate-jitconfig POST costing 5 (so 180 a minute).
    points_limit: PointsLimit = PointsLimit()
    # Simulated seconds between a match (a new job meeting an idle eligible runner, or a runner
    # that connects meeting a queued job) and the assignment, uniform in [low, high]; (0, 0): at once.
    assignment_delay_s: tuple[float, float] = (0.5, 2.0)
    # After an assignment the REST `busy` field still reads false for a lag uniform in [low, high]
    # simulated seconds (terraform-aws-github-runner#5228: 25-60 s and more); (0, 0): no lag.
    busy_lag_s: tuple[float, float] = (25.0, 60.0)
    # What DELETE of a runner decides on: the lagging REST flag (a DELETE during the lag succeeds, as
    # #5228 reports it did: the stricter reading, so the default), or its true assignment (422 while
    # it has a job, as #5055 and ARC see it once the flag has caught up).
    delete_checks: Literal["assignment", "reported_busy"] = "reported_busy"
    # A runner's machine that goes away (deleted, stopped, evicted) takes its listener with it: no
    # job is handed to it any more. A job it was running fails once its lock lapses: the runner
    # renews the job request every `job_lock_renewal_s` (actions/runner `JobDispatcher.cs`, the
    # 60 s delay between renewals) and each renewal holds it for `job_lock_s` (the "job is valid
    # till" lines, ten minutes after each renewal, in actions/runner#1549); GitHub then fails the
    # job: "The self-hosted runner: NAME lost communication with the server" (#1546, #3539).
    job_lock_s: float = 600.0
    job_lock_renewal_s: float = 60.0
    # GitHub answers a secondary rate limit with either; 403 is what PyGithub classifies as one.
    rate_limit_status: Literal[403, 429] = 403
    primary_rate_limit: PrimaryRateLimit = PrimaryRateLimit()
    # Real seconds: clients compare `expires_at` with their own wall clock, so scaling would
    # only make them refresh on every call.
    token_ttl_s: float = 3600.0

    def __post_init__(self) -> None:
        logins = {a.login.casefold() for a in self.accounts}
        if len(logins) != len(self.accounts):
            raise ValueError("account logins must be unique")
        for repo in self.repositories:
            if repo.owner.casefold() not in logins:
                raise ValueError(f"repository {repo.full_name} has an unknown owner")
        for login in self.installations:
            if login.casefold() not in logins:
                raise ValueError(f"installation for unknown account {login}")
        ids = [group.id for group in self.runner_groups]
        if DEFAULT_RUNNER_GROUP_ID in ids or self.default_runner_group.id != DEFAULT_RUNNER_GROUP_ID:
            raise ValueError("runner group 1 is always 'Default'")
        if len(set(ids)) != len(ids):
            raise ValueError("runner group ids must be unique")
        if self.registrations_per_window < 1:
            raise ValueError("registrations_per_window must be positive")
        points = self.points_limit
        if min(points.points_per_window, points.read_cost, points.write_cost) < 1 or points.window_s <= 0:
            raise ValueError("points_limit: points, costs and window must be positive")
        if self.job_lock_s <= 0 or self.job_lock_renewal_s <= 0:
            raise ValueError("job_lock_s and job_lock_renewal_s must be positive")
        for name in ("assignment_delay_s", "busy_lag_s"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high")


def jit_floor_s(n_registrations: int, config: GitHubSimConfig) -> float:
    """The least simulated time between the first and the last of `n_registrations` JIT
    registrations made through one credential for one organisation (or repository), starting
    fresh: each registration waits until both the points window and the registration window admit
    it (both are sliding windows that admit a request once the one `limit` places back is a whole
    window old)."""
    if n_registrations <= 1:
        return 0.0
    windows: list[tuple[int, float]] = [(config.registrations_per_window, config.registration_window_s)]
    points = config.points_limit
    if points.enabled:
        if points.write_cost > points.points_per_window:
            return math.inf  # no registration ever fits the window
        windows.append((points.points_per_window // points.write_cost, points.window_s))
    times: list[float] = []
    for i in range(n_registrations):
        at = times[-1] if times else 0.0
        for limit, window_s in windows:
            if i >= limit:
                at = max(at, times[i - limit] + window_s)
        times.append(at)
    return times[-1]
