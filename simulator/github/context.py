"""The pieces of one simulated GitHub that its HTTP routes share."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from simulator.clock import SimClock
from simulator.github.actions import ActionsService
from simulator.github.auth import AppJwtVerifier, Principal, TokenIssuer
from simulator.github.config import Account, GitHubSimConfig
from simulator.github.directory import Directory, RunnerScope
from simulator.github.hourly_budget import HourlyBudgets
from simulator.github.request_log import RequestLog
from simulator.github.webhooks import WebhookSender
from simulator.stats import Stats


@dataclass
class SimContext:
    config: GitHubSimConfig
    clock: SimClock
    directory: Directory
    app_jwt: AppJwtVerifier
    tokens: TokenIssuer
    actions: ActionsService
    webhooks: WebhookSender
    stats: Stats
    app_owner: Account
    budgets: HourlyBudgets
    requests: RequestLog
    base_url: str = ""
    stopped: bool = False

    def org_scope(self, request: web.Request, principal: Principal) -> RunnerScope:
        org = self.directory.org(request.match_info["org"])
        principal.require_access(org.login)
        return RunnerScope(org.login)

    def repo_scope(self, request: web.Request, principal: Principal) -> RunnerScope:
        repo = self.directory.repo(request.match_info["owner"], request.match_info["repo"])
        principal.require_access(repo.owner)
        return RunnerScope(repo.owner, repo.name)
