"""GitHub's page-number and cursor pagination, announced in a `Link` header as PyGithub expects."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from aiohttp import web
from yarl import URL

T = TypeVar("T")

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def _int_query(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        return default


def per_page(request: web.Request) -> int:
    return min(MAX_PER_PAGE, max(1, _int_query(request, "per_page", DEFAULT_PER_PAGE)))


def _link(rels: list[tuple[str, URL]]) -> dict[str, str]:
    if not rels:
        return {}
    return {"Link": ", ".join(f'<{url}>; rel="{rel}"' for rel, url in rels)}


def numbered_page(request: web.Request, items: Sequence[T]) -> tuple[list[T], dict[str, str]]:
    size = per_page(request)
    page = max(1, _int_query(request, "page", 1))
    last = max(1, math.ceil(len(items) / size))
    chunk = list(items[(page - 1) * size : page * size])

    def at(number: int) -> URL:
        return request.url.update_query(per_page=size, page=number)

    rels: list[tuple[str, URL]] = []
    if page > 1:
        rels += [("prev", at(min(page - 1, last))), ("first", at(1))]
    if page < last:
        rels += [("next", at(page + 1)), ("last", at(last))]
    return chunk, _link(rels)


def cursor_page(
    request: web.Request, items: Sequence[T], cursor_of: Callable[[T], int]
) -> tuple[list[T], dict[str, str]]:
    """Items after `cursor` (exclusive) in the given order; the cursor is an item's id."""
    size = per_page(request)
    start = 0
    cursor = request.query.get("cursor")
    if cursor:
        try:
            wanted = int(cursor)
        except ValueError:
            wanted = -1
        start = next((i + 1 for i, item in enumerate(items) if cursor_of(item) == wanted), len(items))
    chunk = list(items[start : start + size])
    rels: list[tuple[str, URL]] = []
    if chunk and start + size < len(items):
        rels.append(("next", request.url.update_query(per_page=size, cursor=str(cursor_of(chunk[-1])))))
    return chunk, _link(rels)
