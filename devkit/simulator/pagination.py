"""The forges' pagination: `page`/`per_page` offsets (bad numbers fall back to the defaults) or
GitHub's cursors, announced in a `Link` header as PyGithub and python-gitlab follow it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from aiohttp import web
from yarl import URL

T = TypeVar("T")

MAX_PER_PAGE = 100
GITHUB_PER_PAGE = 30
GITLAB_PER_PAGE = 20


def _int_query(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        return default


def _per_page(request: web.Request, default: int) -> int:
    return min(MAX_PER_PAGE, max(1, _int_query(request, "per_page", default)))


def _link(rels: list[tuple[str, URL]]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in rels)


def _offset_page(request: web.Request, items: Sequence[T], default: int) -> tuple[list[T], int, int, int]:
    """The items of the requested page, the page number, its size and the number of the last page."""
    size = _per_page(request, default)
    page = max(1, _int_query(request, "page", 1))
    last = max(1, math.ceil(len(items) / size))
    return list(items[(page - 1) * size : page * size]), page, size, last


def numbered_page(request: web.Request, items: Sequence[T]) -> tuple[list[T], dict[str, str]]:
    """GitHub's page-number pagination: `prev`/`first` past the first page, `next`/`last` before the last."""
    chunk, page, size, last = _offset_page(request, items, GITHUB_PER_PAGE)

    def at(number: int) -> URL:
        return request.url.update_query(per_page=size, page=number)

    rels: list[tuple[str, URL]] = []
    if page > 1:
        rels += [("prev", at(min(page - 1, last))), ("first", at(1))]
    if page < last:
        rels += [("next", at(page + 1)), ("last", at(last))]
    return chunk, {"Link": _link(rels)} if rels else {}


def cursor_page(
    request: web.Request, items: Sequence[T], cursor_of: Callable[[T], int]
) -> tuple[list[T], dict[str, str]]:
    """GitHub's cursor pagination: items after `cursor` (exclusive) in the given order; the cursor is
    an item's id."""
    size = _per_page(request, GITHUB_PER_PAGE)
    start = 0
    cursor = request.query.get("cursor")
    if cursor:
        try:
            wanted = int(cursor)
        except ValueError:
            wanted = -1
        start = next((i + 1 for i, item in enumerate(items) if cursor_of(item) == wanted), len(items))
    chunk = list(items[start : start + size])
    if not chunk or start + size >= len(items):
        return chunk, {}
    after = request.url.update_query(per_page=size, cursor=str(cursor_of(chunk[-1])))
    return chunk, {"Link": _link([("next", after)])}


def gitlab_page(request: web.Request, items: Sequence[T]) -> tuple[list[T], dict[str, str]]:
    """GitLab's offset pagination: the X-* headers python-gitlab counts pages with, and a `Link` header
    that always names the first and the last page."""
    chunk, page, size, last = _offset_page(request, items, GITLAB_PER_PAGE)

    def at(number: int) -> URL:
        return request.url.update_query(page=number, per_page=size)

    next_page = page + 1 if page < last else None
    prev_page = page - 1 if 1 < page <= last + 1 else None
    links: list[tuple[str, URL]] = []
    if prev_page is not None:
        links.append(("prev", at(prev_page)))
    if next_page is not None:
        links.append(("next", at(next_page)))
    links += [("first", at(1)), ("last", at(last))]
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(size),
        "X-Next-Page": str(next_page or ""),
        "X-Prev-Page": str(prev_page or ""),
        "X-Total": str(len(items)),
        "X-Total-Pages": str(last),
        "Link": _link(links),
    }
    return chunk, headers
