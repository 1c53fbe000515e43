"""GitHub credentials: an App's installation tokens (cached until near expiry) or a fixed token."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from github import Auth, Github, GithubIntegration, GithubRetry, UnknownObjectException

from runner_fleet.logs import get_logger, register_secret

log = get_logger("github.auth")

# Refresh this long before GitHub's expiry so a token never dies in the middle of a provision.
REFRESH_MARGIN_S = 5 * 60


@dataclass(frozen=True)
class GitHubClientOptions:
    base_url: str = "https://api.github.com"
    timeout_s: int = 15
    # PyGithub spaces writes 1 s apart by default; registrations allow 1,500 per 5 min (5/s).
    seconds_between_writes: float | None = 0.2
    retries: int = 3


class GitHubAuth:
    """Hands out a `Github` client for an org or installation, App-authenticated or token-authenticated."""

    def __init__(
        self,
        options: GitHubClientOptions,
        *,
        app_id: int | None = None,
        private_key: str | None = None,
        token: str | None = None,
    ) -> None:
        if not ((app_id and private_key) or token):
            raise ValueError("GitHub needs an App id and private key, or a token")
        self._options = options
        self._app = (
            GithubIntegration(
                auth=Auth.AppAuth(app_id, private_key),
                base_url=options.base_url,
                timeout=options.timeout_s,
                retry=GithubRetry(total=options.retries),
            )
            if app_id and private_key
            else None
        )
        self._token = token
        if token:
            register_secret(token)
        self._lock = threading.Lock()
        self._tokens: dict[int, tuple[str, float]] = {}
        self._installations: dict[str, int] = {}
        self._clients: dict[str, Github] = {}
        self.tokens_fetched = 0

    def client(self, org: str, installation_id: int | None = None) -> Github:
        token = self._token if self._app is None else self._installation_token(org, installation_id)
        assert token is not None
        with self._lock:
            client = self._clients.get(token)
            if client is None:
                # Forget clients of expired tokens; there is one live token per installation.
                self._clients = {t: c for t, c in self._clients.items() if self._is_live(t)}
                client = Github(
                    auth=Auth.Token(token),
                    base_url=self._options.base_url,
                    timeout=self._options.timeout_s,
                    retry=GithubRetry(total=self._options.retries),
                    seconds_between_requests=None,
                    seconds_between_writes=self._options.seconds_between_writes,
                    lazy=True,
                )
                self._clients[token] = client
            return client

    def _is_live(self, token: str) -> bool:
        if token == self._token:
            return True
        return any(t == token and exp - time.time() > REFRESH_MARGIN_S for t, exp in self._tokens.values())

    def _installation_token(self, org: str, installation_id: int | None) -> str:
        if installation_id is not None:
            try:
                return self._token_for(installation_id)
            except UnknownObjectException:
                # The App was reinstalled since the event was sent: the org's current installation wins.
                log.warning("github.installation_gone", installation_id=installation_id, org=org)
                with self._lock:
                    self._installations.pop(org.lower(), None)
        return self._token_for(self._installation_for(org))

    def _token_for(self, installation: int) -> str:
        assert self._app is not None
        with self._lock:
            cached = self._tokens.get(installation)
            if cached and cached[1] - time.time() > REFRESH_MARGIN_S:
                return cached[0]
        grant = self._app.get_access_token(installation)
        expires = grant.expires_at
        expires_at = (expires if expires.tzinfo else expires.replace(tzinfo=UTC)).timestamp()
        register_secret(grant.token)
        with self._lock:
            self._tokens[installation] = (grant.token, expires_at)
            self.tokens_fetched += 1
        log.info(
            "github.installation_token",
            installation_id=installation,
            token_expires_at=datetime.fromtimestamp(expires_at, UTC).isoformat(),
        )
        return grant.token

    def _installation_for(self, org: str) -> int:
        assert self._app is not None
        with self._lock:
            known = self._installations.get(org.lower())
        if known is not None:
            return known
        installation = self._app.get_org_installation(org).id
        with self._lock:
            self._installations[org.lower()] = installation
        return installation

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()
        if self._app is not None:
            self._app.close()
