"""What the simulated GitHub knows before it starts: the App, its installations, accounts, timing."""

from __future__ import annotations

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
