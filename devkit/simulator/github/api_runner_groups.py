"""Organisation runner group REST routes: what a group is and which repositories it admits."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.forge import Routes
from simulator.github.config import RunnerGroup
from simulator.github.context import SimContext
from simulator.github.errors import int_param
from simulator.github.representations import repo_json
from simulator.http import json_response
from simulator.pagination import numbered_page


class RunnerGroupRoutes(Routes[SimContext]):
    def routes(self) -> list[web.RouteDef]:
        base = "/orgs/{org}/actions/runner-groups"
        return [
            web.get(base, self.list_groups),
            web.get(f"{base}/{{runner_group_id}}", self.get_group),
            web.get(f"{base}/{{runner_group_id}}/repositories", self.list_repositories),
        ]

    def _group_json(self, org: str, group: RunnerGroup) -> dict[str, Any]:
        url = f"{self._ctx.base_url}/orgs/{org}/actions/runner-groups/{group.id}"
        body: dict[str, Any] = {
            "id": group.id,
            "name": group.name,
            "visibility": group.visibility,
            "default": group.id == self._ctx.config.default_runner_group.id,
            "runners_url": f"{url}/runners",
            "hosted_runners_url": f"{url}/hosted-runners",
            "inherited": False,
            "allows_public_repositories": group.allows_public_repositories,
            "restricted_to_workflows": group.restricted_to_workflows,
            "selected_workflows": list(group.selected_workflows),
            "workflow_restrictions_read_only": False,
        }
        if group.visibility == "selected":
            # "Not present unless visibility was set to `selected`".
            body["selected_repositories_url"] = f"{url}/repositories"
        return body

    async def list_groups(self, request: web.Request) -> web.Response:
        org = self._ctx.org(request, "organization_self_hosted_runners").login
        groups = self._ctx.directory.runner_groups()
        page, headers = numbered_page(request, groups)
        body = {"total_count": len(groups), "runner_groups": [self._group_json(org, g) for g in page]}
        return json_response(body, headers=headers)

    async def get_group(self, request: web.Request) -> web.Response:
        org = self._ctx.org(request, "organization_self_hosted_runners").login
        group = self._ctx.directory.runner_group(int_param(request, "runner_group_id"))
        return json_response(self._group_json(org, group))

    async def list_repositories(self, request: web.Request) -> web.Response:
        org = self._ctx.org(request, "organization_self_hosted_runners").login
        group = self._ctx.directory.runner_group(int_param(request, "runner_group_id"))
        selected = {name.casefold() for name in group.selected_repositories}
        repos = (
            [r for r in self._ctx.directory.repos_of(org) if r.full_name.casefold() in selected]
            if group.visibility == "selected"
            else []
        )
        page, headers = numbered_page(request, repos)
        owner = self._ctx.directory.account(org)
        body = {
            "total_count": len(repos),
            "repositories": [repo_json(self._ctx.base_url, r, owner) for r in page],
        }
        return json_response(body, headers=headers)
