"""The schema: every feature module's root fields merged, with the safety extensions."""

from __future__ import annotations

import strawberry
from strawberry.tools import merge_types

from clinic_availability.settings import Settings
from gql.errors import DomainErrors
from gql.people import PeopleMutation, PeopleQuery

QUERY_TYPES: tuple[type, ...] = (PeopleQuery,)
MUTATION_TYPES: tuple[type, ...] = (PeopleMutation,)

Query = merge_types("Query", QUERY_TYPES)
Mutation = merge_types("Mutation", MUTATION_TYPES)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=[DomainErrors])
