"""GitHub credentials: an App's installation tokens (cached until near expiry) or a fixed token."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from github import Auth, Github, GithubIntegration, UnknownObjectException
from urllib3.util import Retry

from runner_fleet.adapters.github.budget import Budgets
from runner_fleet.adapters.github.calls import Session
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


def retry_policy(retries: int) -> Retry:
    """Retry dropped connections and 5xx answers only, a few times with a short back-off.

    PyGithub's own GithubRetry also retries rate limits, sleeping in the calling thread: until
    `x-ratelimit-reset` on a primary limit (up to an hour) and for `Retry-After` or 60 s on a
    secondary one. A worker must not block that long, and a scan must not press on; so 403 and 429
    come back to us as errors, and the budget (`calls.call`) turns them into a deferral instead.
    """
    return Retry(
        total=retries,
        status_forcelist=(500, 502, 503, 504),
        # As GithubRetry: GET and POST too (a repeated JIT registration answers 409, which we handle).
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST"},
        backoff_factor=0.5,
        respect_retry_after_header=False,
        raise_on_status=False,
    )


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
                retry=retry_policy(options.retries),
            )
            if app_id and private_key
            else None
        )
        self._token = token
        if token:
            register_secret(token, keep=True)
        self._lock = threading.Lock()
        self._tokens: dict[int, tuple[str, float]] = {}
        self._installations: dict[str, int] = {}
        self._clients: dict[str, Github] = {}
        self.tokens_fetched = 0
        self.budgets = Budgets()

    def client(self, org: str, installation_id: int | None = None) -> Github:
        return self.session(org, installation_id).client

    def session(self, org: str, installation_id: int | None = None) -> Session:
        """A client for `org` and the budget of its credential (the installation, or the one token)."""
        if self._app is None:
            assert self._token is not None
            return Session(self._client_of(self._token), self.budgets.of("token"))
        token, installation = self._installation_token(org, installation_id)
        return Session(self._client_of(token), self.budgets.of(f"installation {installation}"))

    def _client_of(self, token: str) -> Github:
        with self._lock:
            client = self._clients.get(token)
            if client is None:
                # Forget clients of expired tokens; there is one live token per installation.
                self._clients = {t: c for t, c in self._clients.items() if self._is_live(t)}
                client = Github(
                    auth=Auth.Token(token),
                    base_url=self._options.base_url,
                    timeout=self._options.timeout_s,
                    retry=retry_policy(self._options.retries),
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

    def _installation_token(self, org: str, installation_id: int | None) -> tuple[str, int]:
        if installation_id is not None:
            try:
                return self._token_for(installation_id), installation_id
            except UnknownObjectException:
                # The App was reinstalled since the event was sent: the org's current installation wins.
                log.warning("github.installation_gone", installation_id=installation_id, org=org)
                with self._lock:
                    self._installations.pop(org.lower(), None)
        installation = self._installation_for(org)
        return self._token_for(installation), installation

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
