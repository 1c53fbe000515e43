"""GitLab's offset pagination: `page`/`per_page` in, X-* headers and a `Link` header out.

python-gitlab follows `Link: rel="next"` for `get_all=True` and iterators, and reads the X-*
headers for its page counters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from aiohttp import web
from yarl import URL

T = TypeVar("T")

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def _int_query(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        return default


def paginate(request: web.Request, items: Sequence[T]) -> tuple[list[T], dict[str, str]]:
    size = min(MAX_PER_PAGE, max(1, _int_query(request, "per_page", DEFAULT_PER_PAGE)))
    page = max(1, _int_query(request, "page", 1))
    total_pages = max(1, math.ceil(len(items) / size))
    chunk = list(items[(page - 1) * size : page * size])

    def at(number: int) -> URL:
        return request.url.update_query(page=number, per_page=size)

    next_page = page + 1 if page < total_pages else None
    prev_page = page - 1 if 1 < page <= total_pages + 1 else None
    links: list[tuple[str, URL]] = []
    if prev_page is not None:
        links.append(("prev", at(prev_page)))
    if next_page is not None:
        links.append(("next", at(next_page)))
    links += [("first", at(1)), ("last", at(total_pages))]
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(size),
        "X-Next-Page": str(next_page or ""),
        "X-Prev-Page": str(prev_page or ""),
        "X-Total": str(len(items)),
        "X-Total-Pages": str(total_pages),
        "Link": ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links),
    }
    return chunk, headers
