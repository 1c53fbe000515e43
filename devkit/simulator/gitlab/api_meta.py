"""The resources python-gitlab needs around runners and jobs: the current user, the version,
projects and groups (by id or URL-encoded path), and who may do what in them.

`GET /groups/:id/members/all/:user_id` and `/projects/:id/members/all/:user_id` give a user's role
including what it inherits from parent groups; `GET /projects/:id/protected_branches` and
`/protected_tags` list the protected names and wildcard patterns (GitLab's members and protected
branches API docs).
"""

from __future__ import annotations

from aiohttp import web

from simulator.forge import Routes
from simulator.gitlab.auth import READ, READ_USER
from simulator.gitlab.config import ROLE_NAMES, User
from simulator.gitlab.context import GitLabContext
from simulator.gitlab.errors import API, int_param, not_found, query_bool
from simulator.http import json_response
from simulator.pagination import gitlab_page


class MetaRoutes(Routes[GitLabContext]):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/user", self.current_user),
            web.get(f"{API}/version", self.version),
            web.get(f"{API}/projects/{{project_id}}", self.project),
            web.get(f"{API}/groups/{{group_id}}", self.group),
            web.get(f"{API}/groups/{{group_id}}/projects", self.group_projects),
        ]

    async def current_user(self, request: web.Request) -> web.Response:
        principal = self._ctx.auth.authenticate(request, READ_USER)
        return json_response(self._ctx.urls.current_user(principal.user))

    async def version(self, request: web.Request) -> web.Response:
        self._ctx.auth.authenticate(request, READ_USER)
        config = self._ctx.config
        return json_response(
            {
                "version": f"{config.version}-ee",
                "revision": config.revision,
                "kas": {"enabled": False, "externalUrl": None, "version": None},
                "enterprise": True,
            }
        )

    async def project(self, request: web.Request) -> web.Response:
        self._ctx.auth.authenticate(request, READ)
        project = self._ctx.directory.project(request.match_info["project_id"])
        return json_response(self._ctx.urls.project(project))

    async def group(self, request: web.Request) -> web.Response:
        self._ctx.auth.authenticate(request, READ)
        group = self._ctx.directory.group(request.match_info["group_id"])
        return json_response(self._ctx.urls.group(group))

    async def group_projects(self, request: web.Request) -> web.Response:
        self._ctx.auth.authenticate(request, READ)
        directory = self._ctx.directory
        group = directory.group(request.match_info["group_id"])
        projects = directory.projects_in(
            group, include_subgroups=bool(query_bool(request, "include_subgroups"))
        )
        chunk, headers = gitlab_page(request, sorted(projects, key=lambda p: p.id))
        return json_response([self._ctx.urls.project(p) for p in chunk], headers=headers)


class AccessRoutes(Routes[GitLabContext]):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/groups/{{group_id}}/members/all/{{user_id}}", self.group_member),
            web.get(f"{API}/projects/{{project_id}}/members/all/{{user_id}}", self.project_member),
            web.get(f"{API}/projects/{{project_id}}/protected_branches", self.protected_branches),
            web.get(f"{API}/projects/{{project_id}}/protected_tags", self.protected_tags),
        ]

    def _user(self, request: web.Request) -> User:
        wanted = int_param(request, "user_id", "User")
        user = next((u for u in self._ctx.directory.users if u.id == wanted), None)
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
        self._ctx.auth.authenticate(request, READ)
        group = self._ctx.directory.group(request.match_info["group_id"])
        user = self._user(request)
        return self._member(user, self._ctx.directory.group_role(user.username, group))

    async def project_member(self, request: web.Request) -> web.Response:
        self._ctx.auth.authenticate(request, READ)
        project = self._ctx.directory.project(request.match_info["project_id"])
        user = self._user(request)
        return self._member(user, self._ctx.directory.project_role(user.username, project))

    async def protected_branches(self, request: web.Request) -> web.Response:
        self._ctx.auth.authenticate(request, READ)
        project = self._ctx.directory.project(request.match_info["project_id"])
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
        chunk, headers = gitlab_page(request, branches)
        return json_response(chunk, headers=headers)

    async def protected_tags(self, request: web.Request) -> web.Response:
        # The simulator's pipelines run on branches only; no tag is protected.
        self._ctx.auth.authenticate(request, READ)
        self._ctx.directory.project(request.match_info["project_id"])
        return json_response([])
