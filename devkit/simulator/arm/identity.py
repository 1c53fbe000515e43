"""The App Service / Azure Functions managed identity endpoint, as the Function App's code sees it.

In Azure the platform sets `IDENTITY_ENDPOINT` (a plain-HTTP loopback URL) and `IDENTITY_HEADER`
in the app's environment; azure-identity's `ManagedIdentityCredential` (the link of
`DefaultAzureCredential` that answers there) asks it for a token:

    GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<scope without /.default>[&client_id=...]
    X-IDENTITY-HEADER: <IDENTITY_HEADER>

and reads `access_token`, `expires_on` (epoch seconds), `resource`, `token_type` from the JSON answer
(azure-identity 1.27.0 `_credentials/app_service.py`, `_internal/msal_managed_identity_client.py`, which
hands the request to msal 1.39.0 `managed_identity.py`, `_obtain_token_on_app_service`; a failure is
an answer without those fields, reported with its `statusCode` and `message`).
`client_id` names a user-assigned identity (the service sets AZURE_CLIENT_ID; infra/modules/service.bicep).

Modelled: the header is required and must match (else 400 — guess; the endpoint is only reachable
from the app's own sandbox), the api-version must be 2019-08-01 (guess: 400 otherwise), one token
per (resource, identity) for a day. Not modelled: token contents (the ARM simulator accepts any bearer
token and keys its throttling on a digest of it), other api-versions, MSI_ENDPOINT (the older protocol).
"""

from __future__ import annotations

import secrets
import time

from aiohttp import web

from simulator.server import BackgroundLoop

API_VERSION = "2019-08-01"
TOKEN_LIFETIME_S = 24 * 3600


class IdentityEndpoint:
    """Serves managed identity tokens on 127.0.0.1; `environment()` is what the platform would set."""

    def __init__(self, loop: BackgroundLoop) -> None:
        self._loop = loop
        self.header = secrets.token_hex(16)
        self.url = ""
        self.issued: list[tuple[str, str | None]] = []  # (resource, client_id) per token handed out
        self._tokens: dict[tuple[str, str | None], tuple[str, int]] = {}

    def start(self) -> str:
        app = web.Application()
        app.router.add_get("/msi/token", self._token)
        self.url = self._loop.serve(app) + "/msi/token"
        return self.url

    def environment(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.header}

    async def _token(self, request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), self.header):
            return _error("X-IDENTITY-HEADER is missing or wrong")
        if request.query.get("api-version") != API_VERSION:
            return _error(f"api-version must be {API_VERSION}")
        resource = request.query.get("resource", "")
        if not resource:
            return _error("resource is required")
        key = (resource, request.query.get("client_id"))
        token, expires_on = self._tokens.get(key, ("", 0))
        if expires_on - time.time() < 300:
            token, expires_on = f"sim-mi-{secrets.token_hex(12)}", int(time.time()) + TOKEN_LIFETIME_S
            self._tokens[key] = (token, expires_on)
            self.issued.append(key)
        body = {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": key[1] or "00000000-0000-0000-0000-00000000a001",
        }
        return web.json_response(body)


def _error(message: str) -> web.Response:
    return web.json_response({"statusCode": 400, "message": message}, status=400)
