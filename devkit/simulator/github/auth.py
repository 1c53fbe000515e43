"""GitHub App authentication: RS256 JWTs for the App, installation tokens for everything else."""

from __future__ import annotations

import hmac
import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator import http
from simulator.github.errors import ApiError, bad_credentials, not_found
from simulator.github.metering import Credential

# GitHub refuses App JWTs whose `exp` is more than ten minutes ahead of its own clock, by even a
# second ("Generating a JSON Web Token (JWT) for a GitHub App"); PyGithub sets exp = now + 300.
MAX_JWT_LIFETIME_S = 600
JWT_UNDECODABLE = "A JSON web token could not be decoded"
JWT_EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
    "the assertion expires"
)
JWT_TOO_LONG = "'Expiration time' claim ('exp') is too far in the future"
JWT_IAT_FUTURE = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
)
_TOKEN_ALPHABET = string.ascii_letters + string.digits


def generate_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def random_token(prefix: str, length: int = 36) -> str:
    return prefix + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))


def bearer(request: web.Request) -> str | None:
    """The credential of `Authorization: token X` or `Authorization: Bearer X`."""
    return http.bearer(request, ("token", "bearer"))


class AppJwtVerifier:
    def __init__(self, app_id: int, private_key_pem: str) -> None:
        self._app_id = app_id
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        self._public_key = key.public_key()

    def verify(self, token: str | None) -> None:
        if token is None:
            raise ApiError(401, JWT_UNDECODABLE)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise ApiError(401, JWT_EXPIRED) from exc
        except jwt.ImmatureSignatureError as exc:
            raise ApiError(401, JWT_IAT_FUTURE) from exc
        except jwt.PyJWTError as exc:
            raise ApiError(401, JWT_UNDECODABLE) from exc
        if str(claims["iss"]) != str(self._app_id):
            raise ApiError(401, JWT_UNDECODABLE)
        if float(claims["exp"]) - time.time() > MAX_JWT_LIFETIME_S:
            raise ApiError(401, JWT_TOO_LONG)


@dataclass(frozen=True)
class InstallationToken:
    token: str
    installation_id: int
    account_login: str
    expires_at: float
    permissions: Mapping[str, str] = field(default_factory=dict)


_LEVELS = {"read": 1, "write": 2, "admin": 3}


def permission_covers(granted: str | None, wanted: str) -> bool:
    return _LEVELS.get(granted or "", 0) >= _LEVELS[wanted]


@dataclass(frozen=True)
class Principal:
    """Who a REST call is made as; installation tokens only reach their own account.

    `account_login` and `permissions` are None for the static token, which may do anything.
    """

    account_login: str | None
    permissions: Mapping[str, str] | None = None

    def require_access(self, owner: str) -> None:
        # GitHub hides what a token cannot see behind 404 rather than 403.
        if self.account_login is not None and self.account_login.casefold() != owner.casefold():
            raise not_found()

    def require_permission(self, name: str, level: str) -> None:
        if self.permissions is not None and not permission_covers(self.permissions.get(name), level):
            raise ApiError(403, "Resource not accessible by integration")


class TokenIssuer:
    def __init__(self, *, static_token: str, ttl_s: float, static_user_id: int = 0) -> None:
        self._static_token = static_token
        self._static_user_id = static_user_id
        self._ttl_s = ttl_s
        self._tokens: dict[str, InstallationToken] = {}

    def issue(
        self, installation_id: int, account_login: str, permissions: Mapping[str, str]
    ) -> InstallationToken:
        self._drop_expired()
        token = InstallationToken(
            token=random_token("ghs_"),
            installation_id=installation_id,
            account_login=account_login,
            expires_at=time.time() + self._ttl_s,
            permissions=dict(permissions),
        )
        self._tokens[token.token] = token
        return token

    def principal(self, request: web.Request) -> Principal:
        credential = bearer(request)
        if credential is None:
            raise ApiError(401, "Requires authentication")
        if hmac.compare_digest(credential, self._static_token):
            return Principal(account_login=None)
        token = self._tokens.get(credential)
        if token is None or token.expires_at <= time.time():
            raise bad_credentials()
        return Principal(account_login=token.account_login, permissions=token.permissions)

    def credential(self, request: web.Request) -> Credential | None:
        """Whose hourly budget a request spends; None for App JWTs and credentials that do not work."""
        value = bearer(request)
        if value is None:
            return None
        if hmac.compare_digest(value, self._static_token):
            return Credential("user", self._static_user_id)
        token = self._tokens.get(value)
        if token is None or token.expires_at <= time.time():
            return None
        return Credential("installation", token.installation_id)

    def _drop_expired(self) -> None:
        now = time.time()
        for key in [k for k, t in self._tokens.items() if t.expires_at <= now]:
            del self._tokens[key]
