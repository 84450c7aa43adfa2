"""The request pipeline's edges: security headers, the metrics token, CORS, the body cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from clinic_availability.app import create_app
from common.settings import Settings
from rest_compat.router import BASE_PATH
from tests.factories import SLOTS

HTML = {"Accept": "text/html"}
FRONTEND = "https://front.example.org"
COUNT = "query { availableSlots { totalCount } }"


@asynccontextmanager
async def client_for(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=changes))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await app.state.engine.dispose()


async def test_api_replies_are_nosniff_and_clinic_data_is_not_stored(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Any
) -> None:
    slot = await factory.slot()
    replies = {
        "list": await client.get(SLOTS, headers=auth),
        "one": await client.get(f"{SLOTS}/{slot.id}", headers=auth),
        "not found": await client.get(f"{SLOTS}/{slot.id + 99}", headers=auth),
        "no token": await client.get(SLOTS),
        "unknown path": await client.get("/no/such/path"),
        "graphql": await client.post("/graphql", json={"query": COUNT}, headers=auth),
        "openapi": await client.get("/openapi.json"),
    }
    for name, reply in replies.items():
        assert reply.headers["x-content-type-options"] == "nosniff", name
        assert reply.headers.get_list("x-content-type-options") == ["nosniff"], name
        assert reply.headers["cache-control"] == "no-store", name
        assert reply.headers["content-type"].startswith("application/json"), name
    assert replies["list"].status_code == 200
    assert replies["no token"].status_code == 401


async def test_html_pages_keep_their_policy_and_static_files_may_be_cached(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/graphql", "/docs"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert "default-src 'self'" in page.headers["content-security-policy"], path
        assert page.headers.get_list("x-content-type-options") == ["nosniff"], path
        assert page.headers.get_list("cache-control") == ["no-store"], path
    asset = await client.get("/static/docs/docs.css")
    assert asset.status_code == 200
    assert asset.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in asset.headers


async def test_metrics_need_the_token_when_one_is_set(settings: Settings) -> None:
    async with client_for(settings, metrics_token="scrape-s3cret") as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-s3cret"}):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json() == {"errors": "Authentication required"}
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "clinic_http_requests" not in refused.text
        scrape = await http.get("/metrics", headers={"Authorization": "Bearer scrape-s3cret"})
        assert scrape.status_code == 200
        assert "clinic_http_requests_total" in scrape.text


async def test_metrics_are_open_without_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 200


async def test_no_cors_headers_by_default(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    reply = await client.get(SLOTS, headers={**auth, "Origin": FRONTEND})
    assert reply.status_code == 200
    assert not [name for name in reply.headers if name.startswith("access-control-")]
    preflight = await client.options(
        SLOTS,
        headers={"Origin": FRONTEND, "Access-Control-Request-Method": "POST"},
    )
    assert not [name for name in preflight.headers if name.startswith("access-control-")]


def _listed(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


@pytest.mark.parametrize("path", [SLOTS, f"{SLOTS}/7", "/graphql"])
async def test_cors_preflight_is_answered_for_an_allowed_origin(
    settings: Settings, path: str
) -> None:
    origins = f"https://other.example.org, {FRONTEND}"
    async with client_for(settings, cors_allow_origins=origins) as http:
        preflight = await http.options(
            path,
            headers={
                "Origin": FRONTEND,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-user-token, content-type, idempotency-key",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == FRONTEND
        allowed = _listed(preflight.headers["access-control-allow-headers"])
        assert {"x-user-token", "authorization", "content-type", "idempotency-key"} <= allowed
        methods = _listed(preflight.headers["access-control-allow-methods"])
        assert {"get", "post", "put", "delete"} <= methods
        assert "origin" in _listed(preflight.headers["vary"])
        assert preflight.headers["x-request-id"]

        stranger = await http.options(
            path,
            headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in stranger.headers


async def test_cors_replies_expose_the_pagination_headers(
    settings: Settings, auth: dict[str, str], factory: Any
) -> None:
    await factory.slot()
    async with client_for(settings, cors_allow_origins=FRONTEND) as http:
        reply = await http.get(SLOTS, headers={**auth, "Origin": FRONTEND})
        assert reply.status_code == 200
        assert reply.headers["x-total-count"] == "1"
        assert reply.headers["access-control-allow-origin"] == FRONTEND
        exposed = _listed(reply.headers["access-control-expose-headers"])
        assert {
            "x-total-count",
            "x-page",
            "x-page-size",
            "x-total-pages",
            "link",
            "x-request-id",
        } <= exposed
        graphql = await http.post(
            "/graphql", json={"query": COUNT}, headers={**auth, "Origin": FRONTEND}
        )
        assert graphql.json()["data"]["availableSlots"]["totalCount"] == 1
        assert graphql.headers["access-control-allow-origin"] == FRONTEND
        refused = await http.get(SLOTS, headers={"Origin": FRONTEND})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == FRONTEND
        other = await http.get(SLOTS, headers={**auth, "Origin": "https://evil.example.net"})
        assert "access-control-allow-origin" not in other.headers


async def test_any_origin(settings: Settings, auth: dict[str, str]) -> None:
    async with client_for(settings, cors_allow_origins="*") as http:
        reply = await http.get(SLOTS, headers={**auth, "Origin": "https://anywhere.example"})
        assert reply.headers["access-control-allow-origin"] == "*"


async def test_the_body_cap_reply_carries_the_id_and_headers(
    client: httpx.AsyncClient, auth: dict[str, str], settings: Settings
) -> None:
    big = b"x" * (settings.max_body_bytes + 1)
    reply = await client.post(
        f"{BASE_PATH}/books",
        content=big,
        headers={**auth, "content-type": "application/json", "X-Request-ID": "cap-1"},
    )
    assert reply.status_code == 413
    assert reply.json() == {"errors": "Request body too large"}
    assert reply.headers["x-request-id"] == "cap-1"
    assert reply.headers["x-content-type-options"] == "nosniff"


async def test_a_failure_inside_a_middleware_is_the_contract_500(app: Any) -> None:
    """Exceptions outside every route handler still get the masked JSON body."""

    class Exploding:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/healthz":
                raise RuntimeError("patient Alex Rivera")
            await self.inner(scope, receive, send)

    app.add_middleware(Exploding)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        reply = await http.get("/healthz")
    assert reply.status_code == 500
    assert reply.json() == {
        "errors": "Internal server error",
        "request_id": reply.headers["x-request-id"],
    }
    assert reply.headers["content-type"] == "application/json"
    assert "Alex Rivera" not in reply.text


def test_one_pipeline_outside_everything_and_one_rest_layer(app: Any) -> None:
    from starlette.middleware.errors import ServerErrorMiddleware

    from clinic_availability.pipeline import RequestPipeline
    from gql.post_lane import GraphQLPostLane
    from rest_compat.fast_reads import FastSlotReads
    from rest_compat.fast_writes import FastWrites
    from rest_compat.guards import RestGuards

    stack = app.build_middleware_stack()
    assert isinstance(stack, RequestPipeline)
    layers = []
    layer: Any = stack
    while layer is not app.router and hasattr(layer, "app"):
        layers.append(type(layer))
        layer = layer.app
    assert ServerErrorMiddleware not in layers
    ours = [kind for kind in layers if kind.__module__.split(".")[0] != "fastapi"]
    ours = [kind for kind in ours if not kind.__module__.startswith("starlette")]
    # The fast lanes answer their requests themselves, or hand them on untouched; the
    # reads (GET) come first, so they pass no other lane's check.
    assert ours == [RequestPipeline, FastSlotReads, GraphQLPostLane, FastWrites, RestGuards]
