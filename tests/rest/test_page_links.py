"""Page links are what Starlette's ``include_query_params`` would write, for any query."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from models.platform.pagination import Page
from rest_compat.pagination import _ADDRESSES, _plain_kept, page_headers

NAMES = st.sampled_from(["page", "page_size", "provider_id", "start_date", "q", "a b", "é", ""])
# Plain values (the links' quick path) as often as any text.
VALUES = st.text(max_size=8) | st.from_regex(r"[A-Za-z0-9_.\-]{0,8}", fullmatch=True)


def link_of(request: Request, page: Page[object]) -> str:
    headers = page_headers(request, page=page.page, page_size=page.page_size, total=page.total)
    return dict(headers)[b"link"].decode("latin-1")


def reference_links(request: Request, page: Page[object]) -> str:
    links = {"first": 1, "last": page.total_pages}
    if page.page > 1:
        links["prev"] = min(page.page - 1, page.total_pages)
    if page.has_next:
        links["next"] = page.page + 1
    parts = []
    for rel in ("next", "prev", "first", "last"):
        if rel in links:
            url = request.url.include_query_params(page=links[rel], page_size=page.page_size)
            parts.append(f'<{url}>; rel="{rel}"')
    return ", ".join(parts)


@settings(max_examples=300)
@given(
    pairs=st.lists(st.tuples(NAMES, VALUES), max_size=6),
    raw_tail=st.sampled_from(["", "&", "&&x", "&=1", "&y=%zz", "&z=a+b%2B", "&a=b=c", "&page"]),
    page=st.integers(1, 50),
    size=st.integers(1, 100),
    total=st.integers(0, 5000),
    host=st.sampled_from([b"testserver", b"127.0.0.1:8000", b"[::1]:9000"]),
)
def test_links_equal_include_query_params(
    pairs: list[tuple[str, str]],
    raw_tail: str,
    page: int,
    size: int,
    total: int,
    host: bytes,
) -> None:
    query = (urlencode(pairs) + raw_tail).encode()
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/admin/clinic/availability/available_slots",
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", host)],
        "server": ("testserver", 80),
    }
    summary: Page[object] = Page(items=[], total=total, page=page, page_size=size)
    assert link_of(Request(scope), summary) == reference_links(Request(scope), summary)


def test_a_plain_query_is_kept_without_decoding() -> None:
    assert _plain_kept(b"provider_id=1&date=2027-01-10&page=2&page_size=5") == (
        b"provider_id=1&date=2027-01-10"
    )
    assert _plain_kept(b"page=1&page_size=2&a=1&page=3") == b"a=1"
    assert _plain_kept(b"pages=1&page_sizes=2&page") == b"pages=1&page_sizes=2"
    assert _plain_kept(b"a&&=1&page") == b"a=&=1"
    # Anything that decoding could change goes the long way.
    for query in ("q=a+b", "q=%41", "q=a=b", "é=1", "q=a;b"):
        assert _plain_kept(query.encode()) is None


# What Starlette builds a request's URL from, odd values included.
HOSTS = st.sampled_from(
    [None, b"testserver", b"127.0.0.1:8000", b"[::1]:9000", b"", b"a b", b"x/y", b"h#x", b"h:99999"]
)
SERVERS = st.sampled_from([None, ("testserver", 80), ("h", 8080), ["::1", 443], ("h", 443)])
PATHS = st.sampled_from(["/v1/books", "//twice", "/trailing ", "/a?b#c", "/é", "/tab\t"])
QUERIES = st.sampled_from(
    [b"", b"a=1", b"page=2&page_size=5", b"a=1#frag", b"a=1 ", b"a=\t1", b"x=%41", b"a=1&a=2"]
)


@settings(max_examples=300)
@given(
    host=HOSTS,
    server=SERVERS,
    scheme=st.sampled_from(["http", "https", "ws"]),
    path=PATHS,
    queries=st.lists(QUERIES, min_size=1, max_size=3),
)
def test_links_equal_include_query_params_for_any_address(
    host: bytes | None,
    server: tuple[str, int] | list[object] | None,
    scheme: str,
    path: str,
    queries: list[bytes],
) -> None:
    """The link's address, remembered by what Starlette reads, is the URL's own for every
    request of that address (seen first or later, with any query)."""
    summary: Page[object] = Page(items=[], total=120, page=2, page_size=10)
    for query in queries:
        scope = {
            "type": "http",
            "method": "GET",
            "scheme": scheme,
            "path": path,
            "root_path": "",
            "query_string": query,
            "headers": [(b"host", host)] if host is not None else [],
            "server": server,
        }
        expected = reference_links(Request(scope), summary)
        assert link_of(Request(scope), summary) == expected


def test_a_plain_query_takes_the_remembered_address() -> None:
    """Only the first request of an address builds Starlette's URL for the link."""
    _ADDRESSES.clear()
    summary: Page[object] = Page(items=[], total=120, page=2, page_size=10)

    def request(query: bytes) -> Request:
        scope = {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": "/v1/admin/clinic/availability/available_slots/search",
            "root_path": "",
            "query_string": query,
            "headers": [(b"host", b"clinic.example")],
            "server": ("10.0.0.1", 8000),
        }
        return Request(scope)

    first, second = request(b"provider_id=1&date=2027-01-10"), request(b"provider_id=2&page=3")
    link_of(first, summary)
    assert hasattr(first, "_url")  # Starlette's URL, built once for the address
    link = link_of(second, summary)
    assert not hasattr(second, "_url")
    assert link.startswith(
        "<http://clinic.example/v1/admin/clinic/availability/available_slots/search"
        "?provider_id=2&page=3&page_size=10>"
    )
