"""Who may do what in a group or project, and which refs are protected.

`GET /groups/:id/members/all/:user_id` and `/projects/:id/members/all/:user_id` give a user's role
including what it inherits from parent groups; `GET /projects/:id/protected_branches` and
`/protected_tags` list the protected names and wildcard patterns (GitLab's members and protected
branches API docs).
"""

from __future__ import annotations

from aiohttp import web

from simulator.gitlab.auth import READ
from simulator.gitlab.config import ROLE_NAMES, User
from simulator.gitlab.core import GitLabCore
from simulator.gitlab.errors import not_found
from simulator.gitlab.pagination import paginate
from simulator.gitlab.wire import int_param
from simulator.http import json_response

API = "/api/v4"


class AccessRoutes:
    def __init__(self, core: GitLabCore) -> None:
        self._core = core

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/groups/{{group_id}}/members/all/{{user_id}}", self.group_member),
            web.get(f"{API}/projects/{{project_id}}/members/all/{{user_id}}", self.project_member),
            web.get(f"{API}/projects/{{project_id}}/protected_branches", self.protected_branches),
            web.get(f"{API}/projects/{{project_id}}/protected_tags", self.protected_tags),
        ]

    def _user(self, request: web.Request) -> User:
        wanted = int_param(request, "user_id", "User")
        user = next((u for u in self._core.directory.users if u.id == wanted), None)
        if user is None:
            raise not_found("User")
        return user

    def _member(self, user: User, level: int) -> web.Response:
        if level == 0:
            raise not_found()
        return json_response(
            {
                "id": user.id,
                "username": user.username,
                "name": user.name,
                "state": "active",
                "access_level": level,
                "role": ROLE_NAMES[level],
            }
        )

    async def group_member(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ)
        group = self._core.directory.group(request.match_info["group_id"])
        user = self._user(request)
        return self._member(user, self._core.directory.group_role(user.username, group))

    async def project_member(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ)
        project = self._core.directory.project(request.match_info["project_id"])
        user = self._user(request)
        return self._member(user, self._core.directory.project_role(user.username, project))

    async def protected_branches(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ)
        project = self._core.directory.project(request.match_info["project_id"])
        branches = [
            {
                "id": index,
                "name": pattern,
                "push_access_levels": [{"access_level": 40, "access_level_description": "Maintainers"}],
                "merge_access_levels": [{"access_level": 40, "access_level_description": "Maintainers"}],
                "allow_force_push": False,
                "code_owner_approval_required": False,
            }
            for index, pattern in enumerate(project.protected_patterns, start=1)
        ]
        chunk, headers = paginate(request, branches)
        return json_response(chunk, headers=headers)

    async def protected_tags(self, request: web.Request) -> web.Response:
        # The simulator's pipelines run on branches only; no tag is protected.
        self._core.auth.authenticate(request, READ)
        self._core.directory.project(request.match_info["project_id"])
        return json_response([])
