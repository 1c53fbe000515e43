"""Groups, projects and users, looked up by id or by (URL-encoded) path as GitLab's API allows."""

from __future__ import annotations

import fnmatch
from typing import TypeVar

from simulator.gitlab.config import ApiToken, GitLabSimConfig, Group, Member, Project, User
from simulator.gitlab.errors import not_found

T = TypeVar("T")


class Directory:
    def __init__(self, config: GitLabSimConfig) -> None:
        self._groups = {g.id: g for g in config.groups}
        self._projects = {p.id: p for p in config.projects}
        self._users = {u.username: u for u in config.users}
        self._tokens = {t.token: t for t in config.tokens}
        self._members: tuple[Member, ...] = config.members
        self._group_paths = {self.full_path(g).casefold(): g for g in config.groups}
        for project in config.projects:
            group = self._groups[project.group_id]
            if project.namespace_path.casefold() != self.full_path(group).casefold():
                raise ValueError(
                    f"project {project.path_with_namespace} is not under its group {self.full_path(group)}"
                )
        self._project_paths = {p.path_with_namespace.casefold(): p for p in config.projects}

    # -- groups ---------------------------------------------------------------------------

    @property
    def groups(self) -> list[Group]:
        return list(self._groups.values())

    def group(self, ref: str | int) -> Group:
        """By id, or by full path (what `/groups/:id` accepts)."""
        found = self._lookup(ref, self._groups, self._group_paths)
        if found is None:
            raise not_found("Group")
        return found

    def full_path(self, group: Group) -> str:
        return "/".join(g.path for g in reversed(self.lineage(group)))

    def full_name(self, group: Group) -> str:
        return " / ".join(g.display_name for g in reversed(self.lineage(group)))

    def lineage(self, group: Group) -> list[Group]:
        """The group itself, then its parent, up to the top-level group."""
        chain = [group]
        while chain[-1].parent_id is not None:
            chain.append(self._groups[chain[-1].parent_id])
        return chain

    def is_within(self, group: Group, ancestor: Group) -> bool:
        return any(g.id == ancestor.id for g in self.lineage(group))

    # -- projects -------------------------------------------------------------------------

    @property
    def projects(self) -> list[Project]:
        return list(self._projects.values())

    def project(self, ref: str | int) -> Project:
        """By id, or by `path_with_namespace` (URL-decoded by the router already)."""
        found = self._lookup(ref, self._projects, self._project_paths)
        if found is None:
            raise not_found("Project")
        return found

    def group_of(self, project: Project) -> Group:
        return self._groups[project.group_id]

    def projects_in(self, group: Group, *, include_subgroups: bool) -> list[Project]:
        if not include_subgroups:
            return [p for p in self._projects.values() if p.group_id == group.id]
        return [p for p in self._projects.values() if self.is_within(self.group_of(p), group)]

    def project_in_group(self, project: Project, group: Group) -> bool:
        return self.is_within(self.group_of(project), group)

    def ref_protected(self, project: Project, ref: str) -> bool:
        """Whether `ref` is a protected branch of the project; `*` is GitLab's only wildcard."""
        # fnmatch also knows `?` and `[...]`; escape them so that only `*` is a wildcard, as in GitLab.
        return any(
            fnmatch.fnmatchcase(ref, pattern.replace("[", "[[]").replace("?", "[?]"))
            for pattern in project.protected_patterns
        )

    # -- users, roles and tokens ----------------------------------------------------------

    def group_role(self, username: str, group: Group) -> int:
        """The user's role in a group, inherited from its ancestors (GitLab's `max_member_access`)."""
        lineage = {g.id for g in self.lineage(group)}
        levels = [
            m.access_level
            for m in self._members
            if m.username == username and m.kind == "group" and m.id in lineage
        ]
        return max(levels, default=0)

    def project_role(self, username: str, project: Project) -> int:
        direct = [
            m.access_level
            for m in self._members
            if m.username == username and m.kind == "project" and m.id == project.id
        ]
        return max([*direct, self.group_role(username, self.group_of(project))], default=0)

    def may(self, user: User, target: Group | Project, level: int) -> bool:
        """Whether `user` is an administrator or has at least role `level` in `target`."""
        if isinstance(target, Group):
            return user.admin or self.group_role(user.username, target) >= level
        return user.admin or self.project_role(user.username, target) >= level

    @property
    def users(self) -> list[User]:
        return list(self._users.values())

    def user(self, username: str) -> User:
        return self._users[username]

    def token(self, raw: str) -> ApiToken | None:
        return self._tokens.get(raw)

    @staticmethod
    def _lookup(ref: str | int, by_id: dict[int, T], by_path: dict[str, T]) -> T | None:
        if isinstance(ref, int) or ref.isdigit():
            return by_id.get(int(ref))
        return by_path.get(ref.casefold())
