"""Look-ups of the accounts, repositories, installations and runner groups the simulator serves."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.github.config import (
    DEFAULT_RUNNER_GROUP_ID,
    Account,
    GitHubSimConfig,
    Repository,
    RunnerGroup,
)
from simulator.github.errors import ApiError, not_found


@dataclass(frozen=True)
class Installation:
    id: int
    account: Account


@dataclass(frozen=True)
class RunnerScope:
    """Where a runner is registered: an organisation, or one repository."""

    owner: str
    repo: str | None = None

    @property
    def kind(self) -> str:
        return "org" if self.repo is None else "repo"

    @property
    def path(self) -> str:
        return self.owner if self.repo is None else f"{self.owner}/{self.repo}"

    def covers(self, owner: str, repo: str) -> bool:
        if self.owner.casefold() != owner.casefold():
            return False
        return self.repo is None or self.repo.casefold() == repo.casefold()


class Directory:
    def __init__(self, config: GitHubSimConfig) -> None:
        self._accounts = {a.login.casefold(): a for a in config.accounts}
        self._repos = {r.full_name.casefold(): r for r in config.repositories}
        self._installations = {
            inst_id: Installation(inst_id, self._accounts[login.casefold()])
            for login, inst_id in config.installations.items()
        }
        self._installation_by_login = {
            inst.account.login.casefold(): inst for inst in self._installations.values()
        }
        self._default_group = config.default_runner_group
        self._org_groups = {g.id: g for g in (config.default_runner_group, *config.runner_groups)}

    def account(self, login: str) -> Account:
        account = self._accounts.get(login.casefold())
        if account is None:
            raise not_found()
        return account

    def org(self, login: str) -> Account:
        account = self.account(login)
        if account.type != "Organization":
            raise not_found()
        return account

    def repo(self, owner: str, name: str) -> Repository:
        repo = self._repos.get(f"{owner}/{name}".casefold())
        if repo is None:
            raise not_found()
        return repo

    def repos_of(self, login: str) -> list[Repository]:
        return [r for r in self._repos.values() if r.owner.casefold() == login.casefold()]

    def installations(self) -> list[Installation]:
        return sorted(self._installations.values(), key=lambda i: i.id)

    def installation(self, installation_id: int) -> Installation:
        inst = self._installations.get(installation_id)
        if inst is None:
            raise not_found()
        return inst

    def installation_for(self, login: str) -> Installation | None:
        return self._installation_by_login.get(login.casefold())

    def runner_group_name(self, scope: RunnerScope, group_id: int) -> str:
        # Repositories have only the default group; organisations may have more.
        groups = self._org_groups if scope.repo is None else {DEFAULT_RUNNER_GROUP_ID: self._default_group}
        group = groups.get(group_id)
        if group is None:
            raise ApiError(
                422,
                f"Runner group {group_id} does not exist.",
                errors=[{"resource": "Runner", "field": "runner_group_id", "code": "invalid"}],
            )
        return group.name

    def runner_groups(self) -> list[RunnerGroup]:
        """An organisation's runner groups, the Default group first."""
        return sorted(self._org_groups.values(), key=lambda g: g.id)

    def runner_group(self, group_id: int) -> RunnerGroup:
        group = self._org_groups.get(group_id)
        if group is None:
            raise not_found()
        return group
