"""Credentials for Resource Manager: the managed identity in Azure, a fixed token for the simulator."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo


class StaticTokenCredential:
    """An async credential handing out one bearer token; only the simulators accept it."""

    def __init__(self, token: str = "simulated-arm-token") -> None:  # noqa: S107 - not a secret
        self._token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def default_credential() -> Any:
    """DefaultAzureCredential (async): the Function App's managed identity in Azure, az login locally."""
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)
