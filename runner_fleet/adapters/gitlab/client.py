"""One python-gitlab client per process, authenticated lazily (`gl.user` needs `auth()`)."""

from __future__ import annotations

import threading

import gitlab
import requests

from runner_fleet.adapters.gitlab.rate_limit import RateLimitObserver
from runner_fleet.logs import register_secret


class GitLabClient:
    def __init__(self, url: str, token: str, *, timeout_s: float = 15.0) -> None:
        register_secret(token, keep=True)
        self.url = url.rstrip("/")
        self.rate_limit = RateLimitObserver()
        session = requests.Session()
        # requests' own response hooks: every answer's RateLimit-* headers reach the observer.
        session.hooks["response"].append(self.rate_limit.hook)
        self._gl = gitlab.Gitlab(
            self.url,
            private_token=token,
            timeout=timeout_s,
            session=session,
            # python-gitlab retries 429/5xx honouring Retry-After: the one retry layer for GitLab calls.
            retry_transient_errors=True,
        )
        self._authenticated = False
        self._lock = threading.Lock()

    def api(self) -> gitlab.Gitlab:
        with self._lock:
            if not self._authenticated:
                self._gl.auth()
                self._authenticated = True
        return self._gl

    def close(self) -> None:
        self._gl.session.close()
