"""The schema: every feature module's root fields merged, with the safety extensions."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.base import BaseSchema
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from common.settings import Settings
from gql.access import AdminOnly
from gql.appointment_types import AppointmentTypeMutation, AppointmentTypeQuery
from gql.batch import BatchMutation, BatchQuery
from gql.bookings import BookingMutation, BookingQuery
from gql.errors import DomainErrors
from gql.external_calendars import ExternalCalendarMutation, ExternalCalendarQuery
from gql.find import FindQuery
from gql.holds import HoldMutation, HoldQuery
from gql.limits import LimitPolicy, limits_extension
from gql.live import LiveSubscription
from gql.nodes import NodeQuery
from gql.people import PeopleMutation, PeopleQuery
from gql.plan import compiled_plan_extension
from gql.plan.extension import PlanCache
from gql.recurrence import RecurrenceMutation, RecurrenceQuery
from gql.resources import ResourceMutation, ResourceQuery
from gql.serial import SerialRootFields
from gql.slots import SlotMutation, SlotQuery
from gql.time_offs import TimeOffMutation, TimeOffQuery
from gql.types import SCALAR_OVERRIDES
from gql.waitlist import WaitlistMutation, WaitlistQuery
from gql.webhooks import WebhookMutation, WebhookQuery

QUERY_TYPES: tuple[type, ...] = (
    SlotQuery,
    PeopleQuery,
    BookingQuery,
    RecurrenceQuery,
    BatchQuery,
    HoldQuery,
    TimeOffQuery,
    WebhookQuery,
    NodeQuery,
    AppointmentTypeQuery,
    FindQuery,
    ResourceQuery,
    ExternalCalendarQuery,
    WaitlistQuery,
)
MUTATION_TYPES: tuple[type, ...] = (
    SlotMutation,
    PeopleMutation,
    BookingMutation,
    RecurrenceMutation,
    BatchMutation,
    HoldMutation,
    TimeOffMutation,
    WebhookMutation,
    AppointmentTypeMutation,
    ResourceMutation,
    ExternalCalendarMutation,
    WaitlistMutation,
)

Query = strawberry.type(
    type("Query", (merge_types("Query", QUERY_TYPES),), {}),
    description="Reads: records by id or global id, and lists as Relay connections.",
)
Mutation = strawberry.type(
    type("Mutation", (merge_types("Mutation", MUTATION_TYPES),), {}),
    description="Writes: each is one transaction, all or nothing.",
)


class ClinicSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here: Strawberry would log each error with the query text around it,
        which can quote booking notes. Resolver faults are logged by DomainErrors (path and
        stack); client errors are answers, not faults."""


def plan_cache(schema: BaseSchema) -> PlanCache | None:
    """The compiled plans of ``schema`` and their counters (None without the plan)."""
    for extension in getattr(schema, "extensions", ()):
        cache = getattr(extension, "cache", None)
        if isinstance(cache, PlanCache):
            return cache
    return None


def limit_policy(settings: Settings) -> LimitPolicy:
    return LimitPolicy(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
        max_cost=settings.graphql_max_cost,
        default_page_size=settings.default_page_size,
        introspection=settings.introspection,
        cache_size=settings.graphql_cache_size,
    )


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    # AdminOnly first: no later extension (the compiled plan included) runs for a caller
    # who is not an admin.
    extensions: list[Any] = [
        AdminOnly,
        limits_extension(limit_policy(settings)),
        DomainErrors,
        SerialRootFields,
    ]
    if settings.graphql_compiled_plan:
        extensions.append(
            compiled_plan_extension(
                settings.graphql_cache_size, render=settings.graphql_rendered_json
            )
        )
    return ClinicSchema(
        query=Query,
        mutation=Mutation,
        subscription=LiveSubscription,
        extensions=extensions,
        scalar_overrides=SCALAR_OVERRIDES,
        # No "Did you mean ...", and one operation per request (no batching).
        config=StrawberryConfig(disable_field_suggestions=True, batching_config=None),
    )
