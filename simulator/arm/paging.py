"""List answers with `nextLink` paging. The skip token names the last item returned (keyset
paging), so resources created or deleted between pages do not shift the later pages."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

from simulator.arm.errors import invalid_parameter
from simulator.arm.routing import ArmCall

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
