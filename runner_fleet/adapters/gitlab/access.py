"""Does the service's GitLab token have the role that creating the pool's runners needs?

`POST /user/runners` needs the Owner role for a group runner and at least Maintainer for a project
runner (administrators may create any); without it every provision fails with 403 "Insufficient
permissions". The role is read through the members API, inherited roles included.
"""

from __future__ import annotations

import asyncio

from gitlab.exceptions import GitlabError

from runner_fleet.adapters.gitlab.client import GitLabClient
from runner_fleet.ports.preflight import CheckResult
from runner_fleet.settings.pool import Pool

CHECK = "gitlab-role"
MAINTAINER, OWNER = 40, 50
_ROLE_NAMES = {10: "Guest", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"}


class GitLabAccess:
    def __init__(self, client: GitLabClient) -> None:
        self._client = client

    async def check(self, pool: Pool) -> list[CheckResult]:
        if pool.gitlab is None:
            return []
        return [await asyncio.to_thread(self._check, pool)]

    def _check(self, pool: Pool) -> CheckResult:
        scope = pool.gitlab
        assert scope is not None
        gl = self._client.api()
        user = gl.user
        assert user is not None  # set by auth()
        kind, ref, needed = (
            ("group", scope.group_id, OWNER)
            if scope.group_id is not None
            else ("project", scope.project_id, MAINTAINER)
        )
        assert ref is not None  # the scope model demands a group or a project
        resource = f"{self._client.url}/{kind}s/{ref}"
        if bool(user.attributes.get("is_admin")):
            return CheckResult(CHECK, "pass", resource, f"{user.username} is an administrator")
        owner = gl.groups.get(ref, lazy=True) if kind == "group" else gl.projects.get(ref, lazy=True)
        try:
            level = int(owner.members_all.get(user.id).access_level)
        except GitlabError as exc:
            if exc.response_code != 404:
                return CheckResult(
                    CHECK,
                    "fail",
                    resource,
                    f"could not read {user.username}'s role: HTTP {exc.response_code}",
                    fix="give the token the read_api scope",
                )
            level = 0
        role = _ROLE_NAMES.get(level, "no role")
        if level >= needed:
            return CheckResult(CHECK, "pass", resource, f"{user.username} is {role} of the {kind}")
        return CheckResult(
            CHECK,
            "fail",
            resource,
            f"{user.username} is {role} of the {kind}; {kind} runners need {_ROLE_NAMES[needed]}",
            fix=f"give {user.username} the {_ROLE_NAMES[needed]} role in {kind} {ref}, or use a token of "
            "a user who has it",
        )

    async def close(self) -> None:
        return None
