"""A small case-insensitive router for ARM paths (ARM matches path segments case-insensitively), and
list answers with `nextLink` paging: the skip token names the last item returned (keyset paging), so
resources created or deleted between pages do not shift the later pages."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from simulator.arm.errors import ArmError, invalid_parameter


@dataclass
class ArmCall:
    request: web.Request
    params: dict[str, str]
    principal: str
    raw_body: bytes = b""
    _json: Any = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    def json(self) -> Any:
        if not self._parsed:
            try:
                self._json = json.loads(self.raw_body) if self.raw_body else None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ArmError(
                    400,
                    "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: '{exc}'.",
                ) from None
            self._parsed = True
        return self._json

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)

    @property
    def base_url(self) -> str:
        return f"{self.request.scheme}://{self.request.host}"

    @property
    def api_version(self) -> str:
        return self.request.query.get("api-version", "")


Handler = Callable[[ArmCall], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    resource_type: str  # the type whose API versions the route serves, e.g. Microsoft.Compute/virtualMachines
    compute_group: str | None = None


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        resource_type: str,
        compute_group: str | None = None,
    ) -> None:
        self._routes.append(
            Route(method.upper(), template, _compile(template), handler, resource_type, compute_group)
        )

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for route in self._routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == method.upper():
                return route, match.groupdict()
            allowed = True
        if allowed:
            raise ArmError(
                405, "MethodNotAllowed", f"The HTTP method '{method}' is not supported for '{path}'."
            )
        raise ArmError(404, "InvalidResourceType", f"No resource type or route matches '{path}'.")


def _compile(template: str) -> re.Pattern[str]:
    pattern = ""
    for part in re.split(r"(\{[a-z_]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            pattern += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}/?$", re.IGNORECASE)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(error: ArmError, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(error.status, error.body(), {**(headers or {}), **error.headers})


SKIP_TOKEN = "$skiptoken"  # noqa: S105 - a query parameter name, not a credential


def page(call: ArmCall, items: list[tuple[str, dict[str, Any]]], page_size: int) -> dict[str, Any]:
    ordered = sorted(items, key=lambda item: item[0])
    token = call.query(SKIP_TOKEN)
    if token:
        after = _decode(token)
        ordered = [item for item in ordered if item[0] > after]
    chunk = ordered[:page_size]
    body: dict[str, Any] = {"value": [value for _, value in chunk]}
    if len(ordered) > page_size:
        query = {k: v for k, v in call.request.query.items() if k != SKIP_TOKEN}
        query[SKIP_TOKEN] = _encode(chunk[-1][0])
        body["nextLink"] = f"{call.base_url}{call.request.path}?{urlencode(query)}"
    return body


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid_parameter(f"The skip token '{token}' is not valid.", SKIP_TOKEN) from None
