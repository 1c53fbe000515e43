"""The pieces of one simulated GitHub that its HTTP routes share."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from aiohttp import web

from simulator.clock import SimClock
from simulator.github.actions import ActionsService
from simulator.github.auth import AppJwtVerifier, TokenIssuer
from simulator.github.config import Account, GitHubSimConfig, Repository
from simulator.github.directory import Directory
from simulator.github.metering import HourlyBudgets, RequestLog
from simulator.github.rate_limit import PointsLimiter
from simulator.github.webhooks import WebhookSender


@dataclass
class SimContext:
    config: GitHubSimConfig
    clock: SimClock
    directory: Directory
    app_jwt: AppJwtVerifier
    tokens: TokenIssuer
    actions: ActionsService
    webhooks: WebhookSender
    stats: Counter[str]
    app_owner: Account
    budgets: HourlyBudgets
    requests: RequestLog
    points: PointsLimiter
    base_url: str = ""

    def org(self, request: web.Request, permission: str | None = None, level: str = "read") -> Account:
        """The organisation the path names, if the caller's credential reaches it (with `permission`)."""
        principal = self.tokens.principal(request)
        org = self.directory.org(request.match_info["org"])
        principal.require_access(org.login)
        if permission is not None:
            principal.require_permission(permission, level)
        return org

    def repo(self, request: web.Request, permission: str | None = None, level: str = "read") -> Repository:
        """The repository the path names, if the caller's credential reaches it (with `permission`)."""
        principal = self.tokens.principal(request)
        repo = self.directory.repo(request.match_info["owner"], request.match_info["repo"])
        principal.require_access(repo.owner)
        if permission is not None:
            principal.require_permission(permission, level)
        return repo
