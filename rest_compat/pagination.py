"""Pagination headers of the contract: X-Total-Count and friends, and an RFC 8288 Link."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from common.settings import Settings
from models.platform.errors import FieldErrors
from models.platform.pagination import Page, PageRequest
from rest_compat.responses import JSONBody, RawJSONBody


def page_request(
    settings: Settings, page: int | None, page_size: int | None, errors: FieldErrors
) -> PageRequest:
    """The page asked for, checked against the settings; problems go into ``errors``."""
    return PageRequest.checked(
        page,
        page_size,
        default_size=settings.default_page_size,
        max_size=settings.max_page_size,
        errors=errors,
    )


def page_headers(request: Request, page: Page[Any]) -> dict[str, str]:
    headers = {
        "X-Total-Count": str(page.total),
        "X-Page": str(page.page),
        "X-Page-Size": str(page.page_size),
        "X-Total-Pages": str(page.total_pages),
    }
    links = {"first": 1, "last": page.total_pages}
    if page.page > 1:
        links["prev"] = min(page.page - 1, page.total_pages)
    if page.has_next:
        links["next"] = page.page + 1
    head = _link_head_of(request)
    parts = []
    for rel in ("next", "prev", "first", "last"):
        if rel not in links:
            continue
        if head is None:
            url = request.url.include_query_params(page=links[rel], page_size=page.page_size)
            parts.append(f'<{url}>; rel="{rel}"')
        else:
            parts.append(f'<{head}page={links[rel]}&page_size={page.page_size}>; rel="{rel}"')
    headers["Link"] = ", ".join(parts)
    return headers


# The address part of ``request.url`` by what Starlette builds it from (a bounded memo:
# the host header is the client's).
_ADDRESSES: dict[tuple[Any, ...], str] = {}
_MAX_ADDRESSES = 256


def _link_head_of(request: Request) -> str | None:
    """What ``request.url.include_query_params(page=..., page_size=...)`` writes before
    the page: the address, ``?`` and the other parameters in their order, then ``&``
    (worked out once per request, and without building the URL where the request's
    address was seen before). None where the query is not plain: then each link is
    Starlette's own."""
    scope = request.scope
    query: bytes = scope.get("query_string", b"")
    # Plain parts are ASCII: ``URL.query`` is then the raw query string as it is.
    kept = _plain_kept(query.decode("latin-1"))
    if kept is None:
        return None
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    server = scope.get("server")
    # Starlette's URL reads these (and the query only for whether there is one).
    key = (
        scope.get("scheme", "http"),
        host,
        tuple(server) if server is not None else None,
        scope["path"],
        bool(query),
    )
    address = _ADDRESSES.get(key)
    if address is None:
        if len(_ADDRESSES) >= _MAX_ADDRESSES:
            _ADDRESSES.clear()
        address = _ADDRESSES[key] = str(request.url.replace(query="-"))[:-1]
    return f"{address}{kept}&" if kept else address


# A name or value that decoding and encoding again leave as it is.
_PLAIN_PART = re.compile(r"[A-Za-z0-9_.\-]*(?:=[A-Za-z0-9_.\-]*)?")


def _plain_kept(query: str) -> str | None:
    """The query's other parameters as ``urlencode(parse_qsl(...))`` writes them, where
    every part is plain (then that is the identity, give or take ``=`` and empty parts);
    None otherwise."""
    kept = []
    for part in query.split("&"):
        if not part:
            continue
        if _PLAIN_PART.fullmatch(part) is None:
            return None
        name, _, value = part.partition("=")
        if name not in ("page", "page_size"):
            kept.append(f"{name}={value}")
    return "&".join(kept)


def page_response(request: Request, page: Page[Any], items: list[Any]) -> JSONBody:
    return JSONBody(items, headers=page_headers(request, page))


def document_response(request: Request, page: PageRequest, total: int, body: str) -> JSONBody:
    """A page whose JSON the database rendered, with the same headers as ``page_response``."""
    summary: Page[Any] = Page(items=[], total=total, page=page.page, page_size=page.page_size)
    return RawJSONBody(body, headers=page_headers(request, summary))
