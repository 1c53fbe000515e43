"""Every REST request the simulated GitHub answered, counted by route and status (what it cost the caller)."""

from __future__ import annotations

from collections import Counter

from aiohttp import web


def route_of(request: web.Request) -> str:
    """The route's pattern (`/repos/{owner}/{repo}/actions/runs`), so calls of one kind count together."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


class RequestLog:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, int]] = Counter()

    def record(self, request: web.Request, status: int) -> None:
        self._counts[(f"{request.method} {route_of(request)}", status)] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """`"METHOD /route": {"status": count}`."""
        out: dict[str, dict[str, int]] = {}
        for (route, status), count in sorted(self._counts.items()):
            out.setdefault(route, {})[str(status)] = count
        return out
