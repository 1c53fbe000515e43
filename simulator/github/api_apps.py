"""App-level REST routes: the App itself, its installations, and installation access tokens."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.github.auth import bearer, permission_covers
from simulator.github.context import SimContext
from simulator.github.directory import Installation
from simulator.github.errors import ApiError, not_found
from simulator.github.pagination import numbered_page
from simulator.github.representations import (
    APP_PERMISSIONS,
    account_json,
    app_json,
    installation_json,
    org_json,
    repo_json,
)
from simulator.github.wire import int_param, iso, read_json_object
from simulator.http import json_response


class AppRoutes:
    def __init__(self, ctx: SimContext) -> None:
        self._ctx = ctx

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/app", self.get_app),
            web.get("/app/installations", self.list_installations),
            web.get("/app/installations/{installation_id}", self.get_installation),
            web.post("/app/installations/{installation_id}/access_tokens", self.create_token),
            web.get("/orgs/{org}/installation", self.org_installation),
            web.get("/users/{login}/installation", self.user_installation),
            web.get("/repos/{owner}/{repo}/installation", self.repo_installation),
            web.get("/installation/repositories", self.installation_repositories),
            web.get("/orgs/{org}", self.get_org),
            web.get("/users/{login}", self.get_user),
            web.get("/repos/{owner}/{repo}", self.get_repo),
        ]

    def _require_app(self, request: web.Request) -> None:
        self._ctx.app_jwt.verify(bearer(request))

    def _installation_response(self, inst: Installation | None) -> web.Response:
        if inst is None:
            raise not_found()
        return json_response(installation_json(self._ctx.base_url, self._ctx.config, inst))

    async def get_app(self, request: web.Request) -> web.Response:
        self._require_app(request)
        installations = len(self._ctx.directory.installations())
        return json_response(
            app_json(self._ctx.base_url, self._ctx.config, self._ctx.app_owner, installations)
        )

    async def list_installations(self, request: web.Request) -> web.Response:
        self._require_app(request)
        page, headers = numbered_page(request, self._ctx.directory.installations())
        body = [installation_json(self._ctx.base_url, self._ctx.config, inst) for inst in page]
        return json_response(body, headers=headers)

    async def get_installation(self, request: web.Request) -> web.Response:
        self._require_app(request)
        return self._installation_response(
            self._ctx.directory.installation(int_param(request, "installation_id"))
        )

    async def org_installation(self, request: web.Request) -> web.Response:
        self._require_app(request)
        org = self._ctx.directory.org(request.match_info["org"])
        return self._installation_response(self._ctx.directory.installation_for(org.login))

    async def user_installation(self, request: web.Request) -> web.Response:
        self._require_app(request)
        account = self._ctx.directory.account(request.match_info["login"])
        if account.type != "User":
            raise not_found()
        return self._installation_response(self._ctx.directory.installation_for(account.login))

    async def repo_installation(self, request: web.Request) -> web.Response:
        self._require_app(request)
        repo = self._ctx.directory.repo(request.match_info["owner"], request.match_info["repo"])
        return self._installation_response(self._ctx.directory.installation_for(repo.owner))

    async def create_token(self, request: web.Request) -> web.Response:
        self._require_app(request)
        inst = self._ctx.directory.installation(int_param(request, "installation_id"))
        body = await read_json_object(request)
        permissions = _requested_permissions(body.get("permissions"))
        token = self._ctx.tokens.issue(inst.id, inst.account.login, permissions)
        self._ctx.stats.incr("installation_tokens_issued")
        return json_response(
            {
                "token": token.token,
                "expires_at": iso(token.expires_at),
                "permissions": dict(token.permissions),
                "repository_selection": "all",
            },
            status=201,
        )

    async def installation_repositories(self, request: web.Request) -> web.Response:
        principal = self._ctx.tokens.principal(request)
        if principal.account_login is None:
            raise ApiError(403, "This endpoint can only be accessed with an installation token.")
        owner = self._ctx.directory.account(principal.account_login)
        repos = self._ctx.directory.repos_of(owner.login)
        page, headers = numbered_page(request, repos)
        return json_response(
            {
                "total_count": len(repos),
                "repository_selection": "all",
                "repositories": [repo_json(self._ctx.base_url, r, owner) for r in page],
            },
            headers=headers,
        )

    async def get_org(self, request: web.Request) -> web.Response:
        self._ctx.tokens.principal(request)
        org = self._ctx.directory.org(request.match_info["org"])
        repo_count = len(self._ctx.directory.repos_of(org.login))
        return json_response(org_json(self._ctx.base_url, org, repo_count))

    async def get_user(self, request: web.Request) -> web.Response:
        self._ctx.tokens.principal(request)
        account = self._ctx.directory.account(request.match_info["login"])
        return json_response(account_json(self._ctx.base_url, account))

    async def get_repo(self, request: web.Request) -> web.Response:
        principal = self._ctx.tokens.principal(request)
        repo = self._ctx.directory.repo(request.match_info["owner"], request.match_info["repo"])
        principal.require_access(repo.owner)
        owner = self._ctx.directory.account(repo.owner)
        return json_response(repo_json(self._ctx.base_url, repo, owner))


def _requested_permissions(requested: Any) -> dict[str, str]:
    """An empty request gets everything the App was granted; more than that is refused."""
    if requested is None or requested == {}:
        return dict(APP_PERMISSIONS)
    if not isinstance(requested, dict):
        raise ApiError(422, "Invalid request.\n\nFor 'properties/permissions', it is not an object.")
    for name, level in requested.items():
        if level not in ("read", "write", "admin") or not permission_covers(APP_PERMISSIONS.get(name), level):
            raise ApiError(422, "The permissions requested are not granted to this installation.")
    return {str(k): str(v) for k, v in requested.items()}
