"""Persisted and trusted documents over HTTP: ``documentId`` (GraphQL over HTTP, Appendix A),
Apollo's automatic persisted queries, trusted mode; POST and GET; on both databases."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from clinic_availability.app import create_app
from common.settings import Settings
from gql import documents
from gql.documents import DocumentPolicy, DocumentRegistry
from gql.media import GRAPHQL_RESPONSE
from gql.schema import build_schema
from models.platform.documents import StoredDocument, add_documents, list_documents
from models.platform.entities import GraphQLDocument, Role
from models.platform.users import Principal, create_user
from tests.events.live_client import SUBSCRIPTION, acked, live_socket
from tests.events.live_client import serving as serving_live
from tests.factories import Factory
from tests.graphql.helpers import GRAPHQL

TEXT = "query Providers { providers { totalCount } }"
OTHER = "query Patients { patients { totalCount } }"
NOT_FOUND = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}
ANSWER = {"data": {"providers": {"totalCount": 1}}}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def register(session: AsyncSession, document_id: str, text: str = TEXT) -> None:
    await add_documents(session, [StoredDocument(document_id, sha256(text), text)])


async def stored_ids(session: AsyncSession) -> list[str]:
    await session.rollback()
    return [document.document_id for document in await list_documents(session)]


@asynccontextmanager
async def serving(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another application process's worth of state (its own caches) on the same database."""
    app = create_app(settings.model_copy(update=changes))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await app.state.engine.dispose()


@pytest.fixture
async def provider(factory: Factory) -> None:
    await factory.provider()


@pytest.fixture
def document_reads(app: Any) -> Callable[[], int]:
    """How many statements so far read the documents table, on either engine."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "graphql_documents" in statement:
            seen.append(statement)

    for engine in (app.state.engine, app.state.read_engine):
        if engine is not None:
            event.listen(engine.sync_engine, "before_cursor_execute", listen)
    return lambda: len(seen)


@pytest.mark.usefixtures("provider")
async def test_document_id_runs_the_registered_document_by_post_and_get(
    client: httpx.AsyncClient,
    session: AsyncSession,
    auth: dict[str, str],
    document_reads: Callable[[], int],
) -> None:
    await register(session, "5f1b0c9e2a")  # an opaque id, as Codegen's SHA-1 or Relay's MD5
    post = await client.post(GRAPHQL, json={"documentId": "5f1b0c9e2a"}, headers=auth)
    assert post.status_code == 200 and post.json() == ANSWER
    reads = document_reads()
    get = await client.get(GRAPHQL, params={"documentId": "5f1b0c9e2a"}, headers=auth)
    assert get.status_code == 200 and get.json() == ANSWER
    again = await client.post(
        GRAPHQL, json={"documentId": "5f1b0c9e2a", "variables": {}}, headers=auth
    )
    assert again.json() == ANSWER
    assert document_reads() == reads  # served from the process's cache
    by_hash = await client.post(
        GRAPHQL, json={"documentId": f"sha256:{sha256(TEXT)}"}, headers=auth
    )
    assert by_hash.json() == ANSWER


async def test_unknown_document_id_is_persisted_query_not_found(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for send in (
        lambda: client.post(GRAPHQL, json={"documentId": "nope"}, headers=auth),
        lambda: client.get(GRAPHQL, params={"documentId": "sha256:" + "0" * 64}, headers=auth),
        lambda: client.post(GRAPHQL, json={"documentId": "x" * 5000}, headers=auth),
    ):
        response = await send()
        assert response.status_code == 200
        assert response.json() == NOT_FOUND
        assert response.headers["cache-control"] == "private, no-cache, must-revalidate"


async def test_malformed_document_requests_are_400(
    client: httpx.AsyncClient, session: AsyncSession, auth: dict[str, str]
) -> None:
    await register(session, "known")
    cases = [
        ({"documentId": "known", "query": TEXT}, "Send either documentId or query, not both"),
        ({"documentId": 7}, "documentId must be a string"),
        ({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": sha256(TEXT)}}},
         "Unsupported persisted query version"),
        ({"extensions": {"persistedQuery": {"version": 1}}},
         "persistedQuery.sha256Hash must be a string"),
        ({"query": OTHER, "extensions": apq(sha256(TEXT))}, "provided sha does not match query"),
    ]  # fmt: skip
    for body, message in cases:
        response = await client.post(GRAPHQL, json=body, headers=auth)
        assert response.status_code == 400, body
        assert response.json() == {
            "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
        }
    assert await stored_ids(session) == ["known"]


@pytest.mark.usefixtures("provider")
async def test_apollo_automatic_persisted_query_flow(
    client: httpx.AsyncClient, session: AsyncSession, auth: dict[str, str]
) -> None:
    digest = sha256(TEXT)
    first = await client.post(GRAPHQL, json={"extensions": apq(digest)}, headers=auth)
    assert (first.status_code, first.json()) == (200, NOT_FOUND)
    assert await stored_ids(session) == []

    retry = await client.post(
        GRAPHQL, json={"query": TEXT, "extensions": apq(digest)}, headers=auth
    )
    assert retry.json() == ANSWER
    await session.rollback()
    row = (await session.execute(select(GraphQLDocument))).scalar_one()
    assert (row.document_id, row.sha256, row.body, row.source) == (
        digest,
        digest,
        TEXT,
        "automatic",
    )
    assert row.operation_name == "Providers"

    by_hash = await client.post(GRAPHQL, json={"extensions": apq(digest)}, headers=auth)
    assert by_hash.json() == ANSWER
    # Apollo Client's GET form: extensions as JSON in the query string.
    get = await client.get(GRAPHQL, params={"extensions": json.dumps(apq(digest))}, headers=auth)
    assert get.json() == ANSWER
    by_id = await client.post(GRAPHQL, json={"documentId": digest}, headers=auth)
    assert by_id.json() == ANSWER


async def test_apq_by_get_registers_too(
    client: httpx.AsyncClient, session: AsyncSession, auth: dict[str, str]
) -> None:
    digest = sha256(OTHER)
    params = {"query": OTHER, "extensions": json.dumps(apq(digest))}
    response = await client.get(GRAPHQL, params=params, headers=auth)
    assert response.json() == {"data": {"patients": {"totalCount": 0}}}
    assert await stored_ids(session) == [digest]


async def test_text_that_does_not_validate_is_not_registered(
    client: httpx.AsyncClient, session: AsyncSession, auth: dict[str, str]
) -> None:
    text = "{ noSuchField }"
    response = await client.post(
        GRAPHQL, json={"query": text, "extensions": apq(sha256(text))}, headers=auth
    )
    body = response.json()
    assert body["data"] is None and "noSuchField" in body["errors"][0]["message"]
    assert await stored_ids(session) == []


async def test_nothing_about_documents_is_answered_without_a_valid_token(
    client: httpx.AsyncClient, session: AsyncSession, factory: Factory
) -> None:
    await register(session, "known")
    patient = {"X-User-Token": await factory.token(role="patient")}
    callers = {"no token": ({}, "UNAUTHENTICATED"), "patient": (patient, "FORBIDDEN")}
    for caller, (headers, code) in callers.items():
        for body in (
            {"documentId": "known"},
            {"documentId": "unknown"},
            {"extensions": apq("0" * 64)},
            {"query": OTHER, "extensions": apq(sha256(OTHER))},
            {"query": OTHER, "extensions": apq(sha256(TEXT))},
        ):
            response = await client.post(GRAPHQL, json=body, headers=headers)
            reply = response.json()
            assert reply["data"] is None, (caller, body)
            assert [e["extensions"]["code"] for e in reply["errors"]] == [code], (caller, body)
            assert "PersistedQuery" not in response.text
    assert await stored_ids(session) == ["known"]


async def test_refusals_keep_their_status_under_graphql_response_json(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    headers = {**auth, "Accept": GRAPHQL_RESPONSE}
    response = await client.post(GRAPHQL, json={"documentId": "unknown"}, headers=headers)
    assert response.status_code == 200  # as Apollo Server answers it, for every media type
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json() == NOT_FOUND


@pytest.mark.usefixtures("provider")
async def test_trusted_mode_runs_registered_documents_alone(
    settings: Settings, session: AsyncSession, factory: Factory
) -> None:
    await register(session, "providers")
    _user, token = await create_user(session, role="admin", first_name="Dev", last_name="Eloper")
    exempt_user, exempt_token = await create_user(
        session, role="admin", first_name="Graph", last_name="Iql"
    )
    auth, exempt = {"X-User-Token": token}, {"X-User-Token": exempt_token}
    async with serving(
        settings,
        graphql_trusted_documents="only",
        graphql_trusted_documents_exempt_users=f"{exempt_user.id}",
    ) as client:
        refused = {
            "errors": [
                {
                    "message": "Only registered documents may run here: send a documentId",
                    "extensions": {"code": "TRUSTED_DOCUMENT_REQUIRED"},
                }
            ]
        }
        for body in (
            {"query": OTHER},
            {"query": OTHER, "extensions": apq(sha256(OTHER))},
            {"query": "{ __schema { queryType { name } } }"},
        ):
            response = await client.post(GRAPHQL, json=body, headers=auth)
            assert (response.status_code, response.json()) == (403, refused), body
        get = await client.get(GRAPHQL, params={"query": OTHER}, headers=auth)
        assert (get.status_code, get.json()) == (403, refused)

        assert (
            await client.post(GRAPHQL, json={"documentId": "providers"}, headers=auth)
        ).json() == ANSWER
        # The registered text itself, and Apollo's hash of it, run too.
        assert (await client.post(GRAPHQL, json={"query": TEXT}, headers=auth)).json() == ANSWER
        by_hash = await client.post(GRAPHQL, json={"extensions": apq(sha256(TEXT))}, headers=auth)
        assert by_hash.json() == ANSWER
        # Unregistered hash alone: not found (the client's retry with text is then refused).
        unknown = await client.post(GRAPHQL, json={"extensions": apq(sha256(OTHER))}, headers=auth)
        assert unknown.json() == NOT_FOUND

        # The exempt user (GraphiQL's) may send any text; nothing of it is registered.
        free = await client.post(
            GRAPHQL, json={"query": OTHER, "extensions": apq(sha256(OTHER))}, headers=exempt
        )
        assert free.json() == {"data": {"patients": {"totalCount": 0}}}
        # Without a token nothing is said about documents, trusted or not.
        stranger = (await client.post(GRAPHQL, json={"query": OTHER})).json()
        assert stranger["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await stored_ids(session) == ["providers"]


@pytest.mark.usefixtures("provider")
async def test_a_document_registered_by_one_process_is_served_by_another(
    settings: Settings, session: AsyncSession, auth: dict[str, str]
) -> None:
    digest = sha256(TEXT)
    async with serving(settings) as first, serving(settings) as second:
        assert (await second.post(GRAPHQL, json={"documentId": digest}, headers=auth)).json() == (
            NOT_FOUND
        )
        registered = await first.post(
            GRAPHQL, json={"query": TEXT, "extensions": apq(digest)}, headers=auth
        )
        assert registered.json() == ANSWER
        for body in ({"documentId": digest}, {"extensions": apq(digest)}):
            assert (await second.post(GRAPHQL, json=body, headers=auth)).json() == ANSWER


async def test_plain_text_outside_trusted_mode_reads_no_documents(
    client: httpx.AsyncClient, auth: dict[str, str], document_reads: Callable[[], int]
) -> None:
    response = await client.post(GRAPHQL, json={"query": OTHER}, headers=auth)
    assert response.json() == {"data": {"patients": {"totalCount": 0}}}
    assert document_reads() == 0


async def test_subscriptions_follow_trusted_mode_over_websocket(
    settings: Settings, session: AsyncSession, auth: dict[str, str]
) -> None:
    await register(session, "live", SUBSCRIPTION)
    app = create_app(
        settings.model_copy(
            update={"graphql_trusted_documents": "only", "webhook_dispatcher": False}
        )
    )
    try:
        async with serving_live(app) as host, live_socket(host, auth) as socket:
            await acked(socket)

            async def answer(ident: str, payload: dict[str, Any]) -> dict[str, Any]:
                message = {"id": ident, "type": "subscribe", "payload": payload}
                await socket.send(json.dumps(message))
                reply: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 10))
                assert reply["id"] == ident, reply
                return reply

            unregistered = SUBSCRIPTION.replace("slotId ", "")
            text = await answer("text", {"query": unregistered})
            assert text["type"] == "error"
            # Every error over the socket names its operation's request id.
            assert text["payload"][0]["extensions"].pop("request_id")
            assert text["payload"][0]["extensions"] == {"code": "TRUSTED_DOCUMENT_REQUIRED"}
            unknown = await answer("unknown", {"documentId": "nope"})
            assert unknown["payload"][0]["extensions"].pop("request_id")
            assert unknown["payload"] == NOT_FOUND["errors"]
            # The registered document runs: its resolver refuses the bad cursor itself.
            ran = await answer("ran", {"documentId": "live", "variables": {"after": "yesterday"}})
            assert ran["type"] == "next"
            assert ran["payload"]["errors"][0]["extensions"]["errors"] == {"after": ["is invalid"]}
    finally:
        await app.state.engine.dispose()


async def test_the_process_cache_is_a_bounded_lru_with_a_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups: list[str] = []

    async def find_by_id(_session: Any, document_id: str) -> StoredDocument:
        lookups.append(document_id)
        return StoredDocument(document_id, sha256(TEXT), TEXT)

    monkeypatch.setattr(documents, "find_by_id", find_by_id)
    schema = build_schema()._schema
    admin = Principal(user_id=1, token_id=1, role=Role.ADMIN, expires_at=None)

    async def resolve(registry: DocumentRegistry, document_id: str) -> object:
        return await registry.resolve(
            cast(AsyncSession, None), admin, query=None, document_id=document_id, extensions=None
        )

    small = DocumentRegistry(schema, DocumentPolicy(cache_size=2, cache_seconds=60))
    for document_id in ("a", "b", "a", "c", "a", "b"):
        assert await resolve(small, document_id) == TEXT
    assert lookups == ["a", "b", "c", "b"]  # b was the least recently used when c came

    lookups.clear()
    expiring = DocumentRegistry(schema, DocumentPolicy(cache_size=8, cache_seconds=0.05))
    assert await resolve(expiring, "a") == await resolve(expiring, "a") == TEXT
    await asyncio.sleep(0.06)
    assert await resolve(expiring, "a") == TEXT
    assert lookups == ["a", "a"]
