"""What the simulated GitLab knows before it starts: groups, projects, users, API tokens, timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simulator.forge import ForgeSimConfig

Visibility = Literal["private", "internal", "public"]

# The personal access token scopes the simulator tells apart; `api` grants all of them.
SCOPE_API = "api"
SCOPE_READ_API = "read_api"
SCOPE_READ_USER = "read_user"
SCOPE_CREATE_RUNNER = "create_runner"
SCOPE_MANAGE_RUNNER = "manage_runner"
KNOWN_SCOPES = frozenset(
    {SCOPE_API, SCOPE_READ_API, SCOPE_READ_USER, SCOPE_CREATE_RUNNER, SCOPE_MANAGE_RUNNER}
)

DEFAULT_TOKEN = "glpat-SimulatedAdminToken00000"  # noqa: S105 - a simulator's fake

# GitLab's role levels (`Gitlab::Access`), as the members API reports them.
GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
ROLE_NAMES = {
    GUEST: "Guest",
    REPORTER: "Reporter",
    DEVELOPER: "Developer",
    MAINTAINER: "Maintainer",
    OWNER: "Owner",
}


@dataclass(frozen=True)
class Group:
    id: int
    path: str  # this group's own path segment; subgroups name their parent
    parent_id: int | None = None
    name: str | None = None
    visibility: Visibility = "private"

    @property
    def display_name(self) -> str:
        return self.name or self.path


@dataclass(frozen=True)
class CiVariable:
    key: str
    value: str
    # GitLab passes a protected variable only to pipelines on protected branches or tags.
    protected: bool = False


@dataclass(frozen=True)
class Project:
    id: int
    path_with_namespace: str
    group_id: int
    name: str | None = None
    default_branch: str = "main"
    visibility: Visibility = "private"
    description: str = ""
    # Protected branch names or wildcard patterns (`release/*`); None: only the default branch,
    # which GitLab protects on creation by default.
    protected_branches: tuple[str, ...] | None = None
    # Project CI/CD variables (a deploy job's secrets); protected ones only reach protected refs.
    variables: tuple[CiVariable, ...] = ()

    @property
    def protected_patterns(self) -> tuple[str, ...]:
        return (self.default_branch,) if self.protected_branches is None else self.protected_branches

    @property
    def path(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[-1]

    @property
    def namespace_path(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[0]

    @property
    def display_name(self) -> str:
        return self.name or self.path


@dataclass(frozen=True)
class User:
    id: int
    username: str
    name: str
    email: str
    admin: bool = False


@dataclass(frozen=True)
class Member:
    """A user's direct membership of a group or project, with its role level (e.g. OWNER)."""

    username: str
    kind: Literal["group", "project"]
    id: int
    access_level: int


@dataclass(frozen=True)
class ApiToken:
    """A personal access token: whose it is and what it may do."""

    token: str
    scopes: tuple[str, ...]
    username: str = "root"
    name: str = "runner-fleet"


@dataclass(frozen=True)
class GitLabSimConfig(ForgeSimConfig):
    groups: tuple[Group, ...] = (
        Group(100, "acme", name="Acme"),
        Group(101, "platform", parent_id=100, name="Platform"),
    )
    projects: tuple[Project, ...] = (
        Project(1001, "acme/web", 100),
        Project(1002, "acme/api", 100),
        Project(1003, "acme/platform/infra", 101),
    )
    users: tuple[User, ...] = (
        User(1, "root", "Administrator", "admin@example.com", admin=True),
        User(2, "deployer", "Deploy Bot", "deployer@example.com"),
    )
    members: tuple[Member, ...] = (Member("deployer", "group", 100, MAINTAINER),)
    # The first token is the default one (`GitLabSimulator.token`).
    tokens: tuple[ApiToken, ...] = (
        ApiToken(DEFAULT_TOKEN, tuple(sorted(KNOWN_SCOPES)), username="root", name="sim-admin"),
    )
    # Who triggered the pipelines of simulated jobs (the payloads' `user`).
    job_username: str = "deployer"
    version: str = "17.6.0"
    revision: str = "5c1f1ea0f6b"
    # Durations below are simulated seconds (scaled by the SimClock) unless they say "real".
    # GitLab drops a job nobody picks up as stuck (failure_reason stuck_or_timeout_failure).
    pending_timeout_s: float = 3600.0
    # A running job whose runner's VM went away gets no more updates; GitLab drops a running job
    # not updated for an hour as stuck (`Ci::StuckBuilds::DropRunningService`,
    # `BUILD_RUNNING_OUTDATED_TIMEOUT = 1.hour`, failure_reason stuck_or_timeout_failure).
    running_outdated_s: float = 3600.0
    # A runner counts as online while it has contacted GitLab within this window, and as stale
    # once it has not for this long (or was never contacted and is this old).
    runner_online_window_s: float = 2 * 3600.0
    runner_stale_after_s: float = 7 * 24 * 3600.0
    # Hook auto-disabling: after this many consecutive failures (5xx, timeout, no connection)
    # the hook is disabled for `hook_backoff_s`, doubling on every further failure up to
    # `hook_backoff_max_s`; after `hook_permanent_disable_after` failures it stays disabled.
    hook_disable_after: int = 4
    hook_backoff_s: float = 60.0
    hook_backoff_max_s: float = 24 * 3600.0
    hook_permanent_disable_after: int | None = 40
    max_deliveries_kept: int | None = 10_000
    # Authenticated API requests a user may make per (simulated) minute; None: no limit, the
    # self-managed default (GitLab.com: 2,000).
    api_rate_limit_per_minute: int | None = None

    def __post_init__(self) -> None:
        self._check_namespaces()
        self._check_users_and_tokens()
        if self.hook_disable_after < 1:
            raise ValueError("hook_disable_after must be positive")

    def _check_namespaces(self) -> None:
        group_ids = {g.id for g in self.groups}
        if len(group_ids) != len(self.groups):
            raise ValueError("group ids must be unique")
        for group in self.groups:
            if "/" in group.path or not group.path:
                raise ValueError(f"group {group.id}: path is one non-empty segment (parents give the rest)")
            if group.parent_id is not None and group.parent_id not in group_ids:
                raise ValueError(f"group {group.id} has an unknown parent {group.parent_id}")
        if len({p.id for p in self.projects}) != len(self.projects):
            raise ValueError("project ids must be unique")
        for project in self.projects:
            if project.group_id not in group_ids:
                raise ValueError(f"project {project.path_with_namespace} has an unknown group")

    def _check_users_and_tokens(self) -> None:
        usernames = {u.username for u in self.users}
        if len(usernames) != len(self.users):
            raise ValueError("usernames must be unique")
        if not self.tokens:
            raise ValueError("at least one API token is needed")
        for token in self.tokens:
            if token.username not in usernames:
                raise ValueError(f"token {token.name} belongs to an unknown user {token.username}")
            unknown = set(token.scopes) - KNOWN_SCOPES
            if unknown:
                raise ValueError(f"token {token.name} has unknown scopes {sorted(unknown)}")
        if self.job_username not in usernames:
            raise ValueError(f"job_username {self.job_username} is not a configured user")
        for member in self.members:
            if member.username not in usernames:
                raise ValueError(f"member {member.username} is not a configured user")
            if member.access_level not in ROLE_NAMES:
                raise ValueError(f"member {member.username}: unknown access level {member.access_level}")
