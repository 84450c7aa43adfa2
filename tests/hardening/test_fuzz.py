"""Schemathesis against the served OpenAPI document and the GraphQL schema, in-process,
authenticated as an admin: no server error, no reply outside the documented schema."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clinic_availability.app import create_app
from common.settings import Settings
from models.booking.bookings import BookingInput, create_booking
from models.platform.db import create_engine
from models.platform.sessions import create_sessionmaker
from models.platform.users import create_user
from models.scheduling import people
from models.scheduling.slots import SlotInput, create_single_slot
from tests.factories import future

# Examples per operation; FUZZ_EXAMPLES raises it for a longer run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
REST_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# What a resolver may answer (the contract's error table; 500 is the masked failure).
CONTRACT_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "VALIDATION_FAILED",
        "CONFLICT",
        "INTERNAL_SERVER_ERROR",
        "SERVICE_UNAVAILABLE",
    }
)
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
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
        response = case.call(headers=auth)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=REST_CHECKS, headers=auth)

    # Valid and invalid data: a wrong type or a missing field is a 4xx, never a 500.
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    operations, failures = _run_each(schema, check, modes)
    print(
        f"\nOpenAPI fuzzing: {operations} operations, {sum(statuses.values())} requests, "
        f"statuses {dict(sorted(statuses.items()))}, failing operations {len(failures)}"
    )
    assert not failures, "\n\n".join(failures)
    assert statuses[500] == 0


def test_graphql_fuzzing(served: tuple[Any, dict[str, str]]) -> None:
    app, auth = served
    # Introspection is for admins, as every operation.
    schema = schemathesis.graphql.from_asgi("/graphql", app, headers=auth)
    statuses: Counter[int] = Counter()
    internal: list[str] = []

    def check(case: Any) -> None:
        response = case.call(headers=auth)
        statuses[response.status_code] += 1
        assert response.status_code < 500, response.text
        body = response.json()
        assert set(body) <= {"data", "errors", "extensions"}, body
        for error in body.get("errors") or []:
            code = (error.get("extensions") or {}).get("code")
            if "path" in error:  # raised while resolving: must be one of the contract's errors
                assert code in CONTRACT_CODES, (case.body, error)
            if code == "INTERNAL_SERVER_ERROR":
                internal.append(f"{case.body}: {response.text[:500]}")

    operations, failures = _run_each(schema, check, (GenerationMode.POSITIVE,))
    print(
        f"\nGraphQL fuzzing: {operations} root fields, {sum(statuses.values())} requests, "
        f"statuses {dict(sorted(statuses.items()))}, failing fields {len(failures)}, "
        f"internal errors {len(internal)}"
    )
    assert not failures, "\n\n".join(failures)
    assert not internal, "\n".join(internal[:5])
