"""The resources python-gitlab needs around runners and jobs: the current user, the version,
projects and groups (by id or URL-encoded path)."""

from __future__ import annotations

from aiohttp import web

from simulator.gitlab.auth import READ, READ_USER
from simulator.gitlab.core import GitLabCore
from simulator.gitlab.pagination import paginate
from simulator.gitlab.wire import query_bool
from simulator.http import json_response

API = "/api/v4"


class MetaRoutes:
    def __init__(self, core: GitLabCore) -> None:
        self._core = core

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/user", self.current_user),
            web.get(f"{API}/version", self.version),
            web.get(f"{API}/projects/{{project_id}}", self.project),
            web.get(f"{API}/groups/{{group_id}}", self.group),
            web.get(f"{API}/groups/{{group_id}}/projects", self.group_projects),
        ]

    async def current_user(self, request: web.Request) -> web.Response:
        principal = self._core.auth.authenticate(request, READ_USER)
        return json_response(self._core.urls.current_user(principal.user))

    async def version(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ_USER)
        config = self._core.config
        return json_response(
            {
                "version": f"{config.version}-ee",
                "revision": config.revision,
                "kas": {"enabled": False, "externalUrl": None, "version": None},
                "enterprise": True,
            }
        )

    async def project(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ)
        project = self._core.directory.project(request.match_info["project_id"])
        return json_response(self._core.urls.project(project))

    async def group(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ)
        group = self._core.directory.group(request.match_info["group_id"])
        return json_response(self._core.urls.group(group))

    async def group_projects(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ)
        directory = self._core.directory
        group = directory.group(request.match_info["group_id"])
        projects = directory.projects_in(
            group, include_subgroups=bool(query_bool(request, "include_subgroups"))
        )
        chunk, headers = paginate(request, sorted(projects, key=lambda p: p.id))
        return json_response([self._core.urls.project(p) for p in chunk], headers=headers)
