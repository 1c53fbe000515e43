"""App-level REST routes: the App itself, its installations, installation access tokens, and the App
webhook's delivery log (list, inspect, ask for a redelivery; App JWT auth)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.forge import Routes
from simulator.github.auth import bearer, permission_covers
from simulator.github.context import SimContext
from simulator.github.directory import Installation
from simulator.github.errors import ApiError, int_param, not_found, read_json_object
from simulator.github.representations import (
    APP_PERMISSIONS,
    account_json,
    app_json,
    delivery_detail_json,
    delivery_summary_json,
    installation_json,
    org_json,
    repo_json,
)
from simulator.http import json_response, utc_time
from simulator.pagination import cursor_page, numbered_page


class AppRoutes(Routes[SimContext]):
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
        self._ctx.stats["installation_tokens_issued"] += 1
        return json_response(
            {
                "token": token.token,
                "expires_at": utc_time(token.expires_at),
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
        repo = self._ctx.repo(request)
        owner = self._ctx.directory.account(repo.owner)
        return json_response(repo_json(self._ctx.base_url, repo, owner))


class DeliveryRoutes(Routes[SimContext]):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/app/hook/deliveries", self.list_deliveries),
            web.get("/app/hook/deliveries/{delivery_id}", self.get_delivery),
            web.post("/app/hook/deliveries/{delivery_id}/attempts", self.redeliver),
        ]

    async def list_deliveries(self, request: web.Request) -> web.Response:
        self._ctx.app_jwt.verify(bearer(request))
        deliveries = list(reversed(self._ctx.webhooks.deliveries()))
        wanted = request.query.get("status")
        if wanted == "success":
            deliveries = [d for d in deliveries if d.succeeded]
        elif wanted == "failure":
            deliveries = [d for d in deliveries if not d.succeeded]
        page, headers = cursor_page(request, deliveries, lambda d: d.id)
        return json_response([delivery_summary_json(d) for d in page], headers=headers)

    async def get_delivery(self, request: web.Request) -> web.Response:
        self._ctx.app_jwt.verify(bearer(request))
        delivery = self._ctx.webhooks.delivery(int_param(request, "delivery_id"))
        return json_response(delivery_detail_json(delivery))

    async def redeliver(self, request: web.Request) -> web.Response:
        self._ctx.app_jwt.verify(bearer(request))
        self._ctx.webhooks.redeliver(int_param(request, "delivery_id"))
        return json_response({}, status=202)


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
