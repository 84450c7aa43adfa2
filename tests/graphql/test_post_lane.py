"""GraphQL POSTs taken ahead of the framework's routing answer as the full stack does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi.routing import APIRoute

from common.settings import Settings
from models.platform.users import create_user
from tests.factories import Factory, future
from tests.lanes import comparable, lane_and_full, send

SLOTS_QUERY = (
    "query Page($first: Int) { availableSlots(first: $first) { totalCount "
    "pageInfo { hasNextPage endCursor } edges { cursor node { id startTime provider { id } } } } }"
)


@pytest.fixture
async def apps(settings: Settings) -> AsyncIterator[tuple[Any, Any]]:
    """Two servers over one database: the fast lane on, and off."""
    async with lane_and_full(settings) as both:
        yield both


async def _post(app: Any, content: bytes, headers: dict[str, str]) -> httpx.Response:
    return await send(app, "POST", "/graphql", content=content, headers=headers)


LITERAL_FILTER_QUERY = (
    "query N($t: String) { availableSlots(first: 1, filter: {appointmentType: $t}) { totalCount } }"
)


def _json(query: str, variables: dict[str, Any] | None = None, **more: Any) -> bytes:
    return orjson.dumps({"query": query, "variables": variables, **more})


async def test_the_lane_answers_as_the_full_stack(apps: tuple[Any, Any], factory: Factory) -> None:
    lane, full = apps
    provider = await factory.provider()
    for hours in (30, 31, 32):
        await factory.slot(provider, start=future(hours))
    admin = await factory.token()
    patient = await factory.token(role="patient")
    bodies = [
        _json(SLOTS_QUERY, {"first": 2}),
        _json(SLOTS_QUERY, {"first": 500}),  # beyond the maximum page
        _json("{ availableSlot(id: 999999) { id } }"),
        _json("{ availableSlots { nope } }"),  # validation error
        _json("{ availableSlots(first: "),  # syntax error
        _json("query A { __typename } query B { __typename }"),  # no operation chosen
        _json("query A { __typename }", operationName="Z"),
        _json("{ __typename }"),
        b"{not json",
        b"[]",
        orjson.dumps([{"query": "{ __typename }"}]),  # batching
        _json("mutation { deleteAvailableSlot(id: 999999) { id } }"),
    ]
    accepts = [None, "application/graphql-response+json"]
    tokens = [{"X-User-Token": admin}, {"X-User-Token": patient}, {}]
    for body in bodies:
        for token in tokens:
            for accept in accepts:
                headers = {"content-type": "application/json", **token}
                if accept:
                    headers["accept"] = accept
                expected = comparable(await _post(full, body, headers))
                answered = comparable(await _post(lane, body, headers))
                assert answered == expected, (body, token, accept)
    wrong_type = {"content-type": "text/plain", "X-User-Token": admin}
    body = _json("{ __typename }")
    assert comparable(await _post(lane, body, wrong_type)) == comparable(
        await _post(full, body, wrong_type)
    )


async def test_graphql_posts_never_reach_the_framework(
    apps: tuple[Any, Any], factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lane, _full = apps
    admin = {"X-User-Token": await factory.token(), "content-type": "application/json"}
    reached: list[str] = []
    handle = APIRoute.handle

    async def counted(route: APIRoute, scope: Any, receive: Any, send: Any) -> None:
        reached.append(f"{scope['method']} {scope['path']}")
        await handle(route, scope, receive, send)

    monkeypatch.setattr(APIRoute, "handle", counted)
    reply = await _post(lane, _json(SLOTS_QUERY, {"first": 2}), admin)
    assert reply.status_code == 200 and reply.json()["data"]["availableSlots"]["totalCount"] == 0
    assert reached == []
    page = await send(lane, "GET", "/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert reached == ["GET /graphql"]  # GraphiQL and everything else: the full stack


FAST_BODIES = [
    _json(SLOTS_QUERY, {"first": 2}),
    _json(SLOTS_QUERY, {"first": 500}),  # a refusal: the view answers it
    _json("query One($id: Int!) { availableSlot(id: $id) { id startTime } }", {"id": 1}),
    _json("query One($id: Int!) { availableSlot(id: $id) { id startTime } }", {"id": 999999}),
    _json("{ __typename }"),
    _json("query A { __typename } query B { t: __typename }", operationName="B"),
    _json("{ a: availableSlots(first: 1) { nodes { id } } b: __typename }"),
    _json("{ providers { nodes { id } } }"),
    _json("{ patients { nodes { id } } }"),  # not rendered: the view answers it
    # Text no field accepts (a NUL, sent as the escape ``\u0000``), even in a variable the
    # document does not declare: the view refuses it. Without it, the page goes fast.
    _json(SLOTS_QUERY, {"first": 2, "note": "x\x00"}),
    _json(SLOTS_QUERY, {"first": 2, "": "x\x00"}),
    _json(SLOTS_QUERY, {"first": 2, "note": "x"}),
    # A literal input object with a variable inside: graphql-core builds it.
    _json(LITERAL_FILTER_QUERY, {"t": "x"}),
    _json(LITERAL_FILTER_QUERY, {"t": None}),
]


async def test_compiled_queries_answer_as_the_view(settings: Settings, factory: Factory) -> None:
    """With the token cache on, repeated documents are answered without the view, the same
    status, headers and bytes; refusals and anything not rendered go to the view."""
    cached = settings.model_copy(update={"token_cache_seconds": 60})
    async with lane_and_full(cached) as (lane, full):
        provider = await factory.provider()
        for hours in (30, 31, 32):
            await factory.slot(provider, start=future(hours))
        admin = await factory.token()
        patient = await factory.token(role="patient")
        for _round in range(2):  # the first sight compiles; the second may go fast
            for body in FAST_BODIES:
                for token in (
                    {"X-User-Token": admin},
                    {"X-User-Token": patient},
                    {},
                    {"Authorization": f"Bearer {admin}"},
                    {"Authorization": "Bearer nobody", "X-User-Token": admin},
                ):
                    for accept in (None, "application/graphql-response+json"):
                        headers = {"content-type": "application/json", **token}
                        if accept:
                            headers["accept"] = accept
                        expected = comparable(await _post(full, body, headers))
                        answered = comparable(await _post(lane, body, headers))
                        assert answered == expected, (body, token, accept)
        fast: Any = getattr(lane.state, "graphql_fast", None)
        if not cached.graphql_rendered_json or not cached.graphql_compiled_plan:
            assert fast is None
            return
        # Admin (by either header; X-User-Token first), plain JSON: the slot page, both
        # single slots but the missing one (an error), __typename, the named operation, the
        # mixed one, providers; in the second round, and in the first by the Bearer token
        # and the pair of headers, sent once the X-User-Token request compiled the document.
        # The page with an extra variable and the literal filter with a null variable
        # (documents compiled by an earlier body): all three senders, both rounds.
        assert fast.answered == 6 + 6 * 2 * 2 + 2 * 3 * 2
        assert lane.state.graphql_plan.fallbacks == 0


async def test_trusted_documents_are_left_to_the_view(settings: Settings, factory: Factory) -> None:
    """Under trusted documents, text another caller ran (and so compiled) is still refused
    to a caller who must send registered documents: nothing goes fast."""
    exempt_user, exempt_token = await create_user(
        factory.session, role="admin", first_name="Graph", last_name="Iql"
    )
    trusted = settings.model_copy(
        update={
            "token_cache_seconds": 60,
            "graphql_trusted_documents": "only",
            "graphql_trusted_documents_exempt_users": f"{exempt_user.id}",
        }
    )
    async with lane_and_full(trusted) as (lane, _full):
        await factory.slot(start=future(30))
        admin = await factory.token()
        body = _json(SLOTS_QUERY, {"first": 2})
        for _round in range(2):
            free = await _post(
                lane, body, {"content-type": "application/json", "X-User-Token": exempt_token}
            )
            assert free.json()["data"]["availableSlots"]["totalCount"] == 1
        refused = await _post(
            lane, body, {"content-type": "application/json", "X-User-Token": admin}
        )
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
        fast: Any = getattr(lane.state, "graphql_fast", None)
        assert fast is None or fast.answered == 0


async def test_documents_named_by_id_go_fast_as_their_text(
    settings: Settings, factory: Factory
) -> None:
    """A registered document named by ``documentId`` or by Apollo's hash alone answers as
    the view does, and, once this process holds its text and its plan, without the view;
    one it does not hold (unknown, or named with text too) is the view's."""
    from models.platform.documents import StoredDocument, add_documents, sha256_of

    cached = settings.model_copy(update={"token_cache_seconds": 60})
    await add_documents(
        factory.session, [StoredDocument("page-v1", sha256_of(SLOTS_QUERY), SLOTS_QUERY)]
    )
    digest = sha256_of(SLOTS_QUERY)
    async with lane_and_full(cached) as (lane, full):
        provider = await factory.provider()
        for hours in (30, 31, 32):
            await factory.slot(provider, start=future(hours))
        admin = await factory.token()
        persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        bodies = [
            orjson.dumps({"documentId": "page-v1", "variables": {"first": 2}}),
            orjson.dumps({"documentId": f"sha256:{digest}", "variables": {"first": 2}}),
            orjson.dumps({"extensions": persisted, "variables": {"first": 2}}),
            orjson.dumps({"documentId": "unknown", "variables": {"first": 2}}),
            orjson.dumps({"documentId": 7}),
            orjson.dumps({"documentId": "page-v1", "query": SLOTS_QUERY}),
            _json(SLOTS_QUERY, {"first": 2}),
        ]
        headers = {"content-type": "application/json", "X-User-Token": admin}
        for _round in range(2):
            for body in bodies:
                expected = comparable(await _post(full, body, headers))
                answered = comparable(await _post(lane, body, headers))
                assert answered == expected, body
        fast: Any = getattr(lane.state, "graphql_fast", None)
        if fast is None:
            assert not (cached.graphql_rendered_json and cached.graphql_compiled_plan)
            return
        # The text in both rounds (its id compiled the plan first), and in the second the
        # three names of the registered page.
        assert fast.answered == 5
        assert lane.state.graphql_plan.fallbacks == 0
        ok = orjson.loads(expected[2])
        assert ok["data"]["availableSlots"]["totalCount"] == 3


@pytest.mark.parametrize(
    "body",
    [b'"\\ud800"', b'"\\udc00x"', b'"a\x00"', b'"a\x1f"', b'"\xed\xa0\x80"'],
)
def test_json_the_lane_reads_holds_no_lone_surrogate_or_raw_control(body: bytes) -> None:
    """The lane checks variables for invalid text only where the body has a ``\\u0000``
    escape: orjson refuses lone surrogates and raw control characters itself."""
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
