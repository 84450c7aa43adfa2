"""schema.graphql at the repository root is the schema the server serves."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as graphql_build_schema

from common.settings import Settings
from gql.schema import build_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_file_matches_the_served_schema() -> None:
    served = build_schema(Settings()).as_str() + "\n"
    assert SCHEMA_FILE.read_text() == served, (
        "schema.graphql is stale: run `clinic-availability export-schema > schema.graphql`"
    )


def test_contract_names_are_in_the_schema() -> None:
    sdl = SCHEMA_FILE.read_text()
    mutation = graphql_build_schema(sdl).mutation_type
    assert mutation is not None
    for field, input_type, output in (
        ("createProvider", "CreateProviderInput!", "Provider!"),
        ("createPatient", "CreatePatientInput!", "Patient!"),
    ):
        assert str(mutation.fields[field].args["input"].type) == input_type
        assert str(mutation.fields[field].type) == output
    for line in ("firstName: String!", "lastName: String!", "timeZone: String"):
        assert line in sdl
