"""Pagination headers of the contract: X-Total-Count and friends, and an RFC 8288 Link."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from common.settings import Settings
from models.platform.errors import FieldErrors
from models.platform.pagination import Page, PageRequest, has_next_page, total_pages
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


Headers = list[tuple[bytes, bytes]]


def page_headers(request: Request, *, page: int, page_size: int, total: int) -> Headers:
    """X-Total-Count, X-Page, X-Page-Size, X-Total-Pages and Link, as raw header pairs."""
    last = total_pages(total, page_size)
    # The order the contract's Link lists them in: next, prev, first, last.
    rels: list[tuple[bytes, int]] = []
    if has_next_page(page, page_size, total):
        rels.append((b"next", page + 1))
    if page > 1:
        rels.append((b"prev", min(page - 1, last)))
    rels += ((b"first", 1), (b"last", last))
    head = _link_head_of(request)
    if head is None:
        url = request.url.include_query_params
        link = ", ".join(
            f'<{url(page=number, page_size=page_size)}>; rel="{rel.decode()}"'
            for rel, number in rels
        ).encode("latin-1")
    else:
        link = b", ".join(
            [
                b'<%spage=%d&page_size=%d>; rel="%s"' % (head, number, page_size, rel)
                for rel, number in rels
            ]
        )
    return [
        (b"x-total-count", b"%d" % total),
        (b"x-page", b"%d" % page),
        (b"x-page-size", b"%d" % page_size),
        (b"x-total-pages", b"%d" % last),
        (b"link", link),
    ]


# The address part of ``request.url`` by what Starlette builds it from (a bounded memo:
# the host header is the client's).
_ADDRESSES: dict[tuple[Any, ...], bytes] = {}
_MAX_ADDRESSES = 256


def _link_head_of(request: Request) -> bytes | None:
    """What ``request.url.include_query_params(page=..., page_size=...)`` writes before
    the page: the address, ``?`` and the other parameters in their order, then ``&``
    (worked out once per request, and without building the URL where the request's
    address was seen before). None where the query is not plain: then each link is
    Starlette's own."""
    scope = request.scope
    query: bytes = scope.get("query_string", b"")
    # Plain parts are ASCII: ``URL.query`` is then the raw query string as it is.
    kept = _plain_kept(query)
    if kept is None:
        return None
    host = None
    for name, value in scope["headers"]:
        if name == b"host":  # the first, as Starlette's Headers reads it
            host = value
            break
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
        url = str(request.url.replace(query="-"))[:-1]
        address = _ADDRESSES[key] = url.encode("latin-1")
    return address + kept + b"&" if kept else address


# A query whose every name and value decoding and encoding again leave as they are.
_PLAIN_PART = rb"[A-Za-z0-9_.\-]*(?:=[A-Za-z0-9_.\-]*)?"
_PLAIN_QUERY = re.compile(_PLAIN_PART + rb"(?:&" + _PLAIN_PART + rb")*")
_PAGING = (b"page", b"page_size")


def _plain_kept(query: bytes) -> bytes | None:
    """The query's other parameters as ``urlencode(parse_qsl(...))`` writes them, where
    every part is plain (then that is the identity, give or take ``=`` and empty parts);
    None otherwise."""
    if _PLAIN_QUERY.fullmatch(query) is None:
        return None
    return b"&".join(
        [
            part if b"=" in part else part + b"="
            for part in query.split(b"&")
            if part and part.partition(b"=")[0] not in _PAGING
        ]
    )


def page_response(request: Request, page: Page[Any], items: list[Any]) -> JSONBody:
    return _paged(JSONBody(items), request, page.page, page.page_size, page.total)


def document_response(request: Request, page: PageRequest, total: int, body: str) -> JSONBody:
    """A page whose JSON the database rendered, with the same headers as ``page_response``."""
    return _paged(RawJSONBody(body), request, page.page, page.page_size, total)


def _paged(response: JSONBody, request: Request, page: int, page_size: int, total: int) -> JSONBody:
    # First, as they are (Starlette would lower-case and encode each of a mapping's).
    response.raw_headers[:0] = page_headers(request, page=page, page_size=page_size, total=total)
    return response
