"""Authentication of API calls by personal access token, and the scopes each call needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from simulator.gitlab.config import (
    SCOPE_API,
    SCOPE_CREATE_RUNNER,
    SCOPE_MANAGE_RUNNER,
    SCOPE_READ_API,
    SCOPE_READ_USER,
    ApiToken,
    User,
)
from simulator.gitlab.directory import Directory
from simulator.gitlab.errors import forbidden, unauthorized
from simulator.http import bearer

# Each call names the scopes that allow it; `api` allows everything.
READ_USER = (SCOPE_READ_USER, SCOPE_READ_API)
READ = (SCOPE_READ_API,)
READ_RUNNERS = (SCOPE_READ_API, SCOPE_MANAGE_RUNNER)
CREATE_RUNNER = (SCOPE_CREATE_RUNNER,)
MANAGE_RUNNER = (SCOPE_MANAGE_RUNNER,)


@dataclass(frozen=True)
class Principal:
    token: ApiToken
    user: User

    @property
    def admin(self) -> bool:
        return self.user.admin

    def require_admin(self) -> None:
        if not self.admin:
            raise forbidden()


def presented_token(request: web.Request) -> str | None:
    """The token as GitLab accepts it: PRIVATE-TOKEN header, Bearer, or `private_token` query."""
    return request.headers.get("PRIVATE-TOKEN") or bearer(request) or request.query.get("private_token")


class Authenticator:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def authenticate(self, request: web.Request, scopes: Iterable[str]) -> Principal:
        raw = presented_token(request)
        token = self._directory.token(raw) if raw else None
        if token is None:
            raise unauthorized()
        if not ({SCOPE_API, *scopes} & set(token.scopes)):
            raise forbidden()
        return Principal(token, self._directory.user(token.username))
