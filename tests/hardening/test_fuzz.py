"""Schemathesis against the served OpenAPI document and the GraphQL schema, in-process,
authenticated as an admin: no server error, no reply outside the documented schema."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import graphql
import hypothesis_graphql as gql_st
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument, Unsatisfiable
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.testclient import TestClient

from clinic_availability.app import create_app
from common.settings import Settings
from models.booking.bookings import BookingInput, create_booking
from models.platform.db import create_engine
from models.platform.sessions import create_sessionmaker
from models.platform.users import create_user
from models.scheduling import people
from models.scheduling.slots import SlotInput, create_single_slot
from tests.factories import future

# Examples per operation and mode; FUZZ_EXAMPLES / GQL_FUZZ_EXAMPLES raise them.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
GQL_EXAMPLES = int(os.environ.get("GQL_FUZZ_EXAMPLES", "6"))
load_all_checks()
# schemathesis's ``--checks all --exclude-checks positive_data_acceptance``.
REST_CHECKS = [check for check in CHECKS.get_all() if check is not positive_data_acceptance]
# Failing examples are kept in Hypothesis's example database (.hypothesis/) and replayed
# first on the next run; the search itself is random each run.
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
)
GQL_SETTINGS = settings(
    max_examples=GQL_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
)


async def _seed(database_url: str) -> str:
    """An admin token, and one record of each kind so fuzzed ids sometimes hit."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            _user, token = await create_user(session, role="admin", first_name="F", last_name="Z")
            provider = await people.create_provider(session, first_name="P", last_name="Q")
            patient = await people.create_patient(session, first_name="A", last_name="B")
            start = future(48)
            slot = await create_single_slot(
                session,
                SlotInput(
                    provider_id=provider.id,
                    start_time=start,
                    end_time=start + timedelta(hours=1),
                ),
            )
            await create_booking(
                session, BookingInput(available_slot_id=slot.id, patient_id=patient.id)
            )
            return token
    finally:
        await engine.dispose()


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[Any, dict[str, str]]]:
    token = asyncio.run(_seed(database_url))
    app = create_app(Settings(database_url=database_url, token_cache_seconds=5))
    yield app, {"X-User-Token": token}


async def _user_token(database_url: str, role: str) -> str:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            _user, token = await create_user(session, role=role, first_name="F", last_name="Z")
            return token
    finally:
        await engine.dispose()


@pytest.fixture
def patient_token(database_url: str, served: Any) -> str:
    return asyncio.run(_user_token(database_url, "patient"))


def _run_each(
    operations: Any, check: Callable[[Any], None], modes: tuple[GenerationMode, ...]
) -> tuple[int, list[str]]:
    """Fuzz every operation; gather the failures instead of stopping at the first."""
    failures: list[str] = []
    count = 0
    for result in operations.get_all_operations():
        operation = result.ok()
        count += 1
        for mode in modes:

            @FUZZ_SETTINGS
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case: Any) -> None:
                check(case)

            try:
                fuzz()
            except Unsatisfiable:
                pass  # no invalid input exists (an operation without parameters)
            except Exception as exc:  # one report per operation and mode
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")
    return count, failures


def _negative_headers(case: Any) -> bool:
    component = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    return component is not None and component.mode.is_negative


def test_openapi_fuzzing(served: tuple[Any, dict[str, str]]) -> None:
    app, auth = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    document = app.openapi()
    schemes = document["components"]["securitySchemes"]
    [scheme_name] = [
        name for name, scheme in schemes.items() if scheme.get("name") == "X-User-Token"
    ]
    for path, operations in document["paths"].items():
        for method, spec in operations.items():
            if path.startswith("/v1/"):
                assert {scheme_name: []} in spec.get("security", []), (method, path)
                assert (
                    "200" in spec["responses"]
                    or "201" in spec["responses"]
                    or "204" in spec["responses"]
                ), (method, path)
    statuses: Counter[int] = Counter()

    def check(case: Any) -> None:
        # A case generated to break the headers (the token left out) is sent as generated.
        headers = None if _negative_headers(case) else auth
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=REST_CHECKS, headers=headers)

    # Valid and invalid data: a wrong type or a missing field is a 4xx, never a 500.
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    operations, failures = _run_each(schema, check, modes)
    print(
        f"\nOpenAPI fuzzing: {operations} operations, {sum(statuses.values())} requests, "
        f"statuses {dict(sorted(statuses.items()))}, failing operations {len(failures)}"
    )
    assert not failures, "\n\n".join(failures)
    assert statuses[500] == 0


def _scalar(values: st.SearchStrategy[str]) -> st.SearchStrategy[graphql.ValueNode]:
    return values.map(lambda text: graphql.StringValueNode(value=text))


INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat())
DAYS = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
CUSTOM_SCALARS = {
    "DateTime": _scalar(st.one_of(INSTANTS, st.text(max_size=40))),
    "Date": _scalar(st.one_of(DAYS, st.text(max_size=12))),
    "JSON": _scalar(st.text(max_size=40)),
}


def test_graphql_fuzzing(served: tuple[Any, dict[str, str]], patient_token: str) -> None:
    """Operations generated from the served schema (every root field, valid documents and
    documents with one schema violation) with generated arguments, sent as an admin, a
    patient and anonymously: no 5xx, no INTERNAL_SERVER_ERROR."""
    app, auth = served
    # One client (one event loop) for the whole run: the pool's connections stay usable.
    with TestClient(app) as http:
        _fuzz_graphql(http, auth, patient_token)


def _fuzz_graphql(http: TestClient, auth: dict[str, str], patient_token: str) -> None:
    identities = {"admin": auth, "patient": {"X-User-Token": patient_token}, "none": {}}
    introspection = http.post(
        "/graphql", json={"query": graphql.get_introspection_query()}, headers=auth
    )
    assert introspection.status_code == 200, introspection.text
    schema = graphql.build_client_schema(introspection.json()["data"])
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    failures: list[str] = []
    assert schema.query_type is not None and schema.mutation_type is not None
    roots: list[tuple[str, Any]] = [(name, gql_st.queries) for name in schema.query_type.fields]
    roots += [(name, gql_st.mutations) for name in schema.mutation_type.fields]
    for name, strategy_of in roots:
        for mode in (gql_st.Mode.POSITIVE, gql_st.Mode.NEGATIVE):
            documents = strategy_of(schema, fields=[name], custom_scalars=CUSTOM_SCALARS, mode=mode)

            @GQL_SETTINGS
            @given(document=documents, who=st.sampled_from(sorted(identities)))
            def fuzz(document: str, who: str) -> None:
                response = http.post("/graphql", json={"query": document}, headers=identities[who])
                statuses[response.status_code] += 1
                assert response.status_code < 500, (who, response.text[:500])
                body = response.json()
                assert isinstance(body, dict) and set(body) <= {"data", "errors", "extensions"}
                for error in body.get("errors") or []:
                    code = (error.get("extensions") or {}).get("code")
                    codes[str(code)] += 1
                    assert code != "INTERNAL_SERVER_ERROR", (who, error)

            try:
                fuzz()
            except InvalidArgument as exc:
                # A field with no argument to get wrong has no invalid form.
                assert mode is gql_st.Mode.NEGATIVE and "NEGATIVE" in str(exc), exc
            except Exception as exc:  # one report per root field and mode
                failures.append(f"{name} ({mode.name}): {str(exc)[:1500]}")
    print(
        f"\nGraphQL fuzzing: {len(roots)} root fields, {sum(statuses.values())} requests, "
        f"statuses {dict(sorted(statuses.items()))}, error codes {dict(codes.most_common())}, "
        f"failing fields {len(failures)}"
    )
    assert not failures, "\n\n".join(failures)
    assert sum(statuses.values()) >= len(roots) * 2
