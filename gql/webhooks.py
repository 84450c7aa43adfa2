"""Webhooks and calendar feed keys over GraphQL: the same operations as the REST face."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from common.public_url import public_base
from gql.context import Context
from gql.types import Node
from models.integrations import calendar_feed
from models.integrations import webhooks as ops
from models.platform.event_tables import Webhook as WebhookRow
from models.platform.event_tables import WebhookDelivery as DeliveryRow


@strawberry.type(description="Where events are POSTed, signed per Standard Webhooks.")
class Webhook(Node):
    id: int = strawberry.field(description="The webhook's id.")
    url: str = strawberry.field(description="Where events are POSTed.")
    events: list[str] = strawberry.field(description='Event types sent, or ["*"] for all.')
    description: str | None = strawberry.field(description="A note for the admins.")
    active: bool = strawberry.field(description="False: nothing is sent.")
    created_at: datetime = strawberry.field(description="When it was registered.")
    secret: str | None = strawberry.field(
        default=None,
        description="Only in the reply to createWebhook and rotateWebhookSecret (null in "
        "a replay of either with the same Idempotency-Key: the secret is shown once).",
    )

    @classmethod
    def from_row(cls, row: WebhookRow, secret: str | None = None) -> Webhook:
        return cls(
            id=row.id,
            url=row.url,
            events=list(row.events),
            description=row.description,
            active=row.active,
            created_at=row.created_at,
            secret=secret,
        )


@strawberry.enum(description="Where a delivery stands.")
class WebhookDeliveryStatus(Enum):
    PENDING = strawberry.enum_value(ops.PENDING, description="Not delivered yet; retried.")
    DELIVERED = strawberry.enum_value(ops.DELIVERED, description="The target answered 2xx.")
    FAILED = strawberry.enum_value(ops.FAILED, description="Given up after the last attempt.")


@strawberry.type(description="One event's delivery to one webhook.")
class WebhookDelivery:
    id: int = strawberry.field(description="The delivery's id.")
    event_id: str = strawberry.field(description="The event delivered.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where the delivery stands.")
    attempts: int = strawberry.field(description="POSTs made so far.")
    last_response_code: int | None = strawberry.field(
        description="The HTTP status of the last attempt; null if it got none."
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is tried next, while pending."
    )
    delivered_at: datetime | None = strawberry.field(description="When it was delivered.")

    @classmethod
    def from_row(cls, row: DeliveryRow) -> WebhookDelivery:
        pending = row.status == ops.PENDING
        return cls(
            id=row.id,
            event_id=str(row.event_id),
            status=WebhookDeliveryStatus(row.status),
            attempts=row.attempts,
            last_response_code=row.last_response_code,
            next_attempt_at=row.next_attempt_at if pending else None,
            delivered_at=row.delivered_at,
        )


@strawberry.input(description="A webhook to register.")
class CreateWebhookInput:
    url: str = strawberry.field(description="An https URL events are POSTed to.")
    events: list[str] = strawberry.field(description='Event types, or ["*"] for all.')
    description: str | None = strawberry.field(default=None, description="A note for the admins.")


@strawberry.input(description="Only the fields given change.")
class UpdateWebhookInput:
    url: str | None = strawberry.field(default=strawberry.UNSET, description="The new URL.")
    events: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description='Event types, or ["*"] for all.'
    )
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="A note for the admins."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="false pauses deliveries."
    )


@strawberry.type(description="The webhook deleteWebhook removed.")
class DeleteWebhookPayload:
    id: int = strawberry.field(description="The deleted webhook's id.")
    deleted: bool = strawberry.field(description="Always true.")


@strawberry.type(description="A provider's calendar feed URL; the key is shown once.")
class ProviderCalendarFeed:
    provider_id: int = strawberry.field(description="The provider's id.")
    key: str = strawberry.field(description="The feed key, shown only here.")
    url: str = strawberry.field(
        description="The feed's absolute URL (PUBLIC_BASE_URL when set, else the address "
        "this request came in on), key included: what a calendar app subscribes to."
    )


def _sent(data: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(data).items() if value is not strawberry.UNSET}


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="Every registered webhook.")
    async def webhooks(self, info: Info[Context, None]) -> list[Webhook]:
        await info.context.require_admin()
        return [Webhook.from_row(row) for row in await ops.list_webhooks(info.context.session)]

    @strawberry.field(description="One webhook by id.")
    async def webhook(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The webhook's id.")],
    ) -> Webhook:
        await info.context.require_admin()
        return Webhook.from_row(await ops.get_webhook(info.context.session, id))

    @strawberry.field(description="A webhook's deliveries, newest event first.")
    async def webhook_deliveries(
        self,
        info: Info[Context, None],
        webhook_id: Annotated[int, strawberry.argument(description="The webhook's id.")],
        limit: Annotated[int, strawberry.argument(description="At most this many.")] = 100,
    ) -> list[WebhookDelivery]:
        await info.context.require_admin()
        rows = await ops.list_deliveries(info.context.session, webhook_id, limit=limit)
        return [WebhookDelivery.from_row(row) for row in rows]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Register a webhook; the reply shows its secret once.")
    async def create_webhook(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateWebhookInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> Webhook:
        await info.context.require_admin()
        row, secret = await ops.create_webhook(
            info.context.session,
            url=input.url,
            events=input.events,
            description=input.description,
            allow_private=info.context.settings.webhook_allow_private_targets,
        )
        return Webhook.from_row(row, info.context.show_once(secret))

    @strawberry.mutation(description="Change the fields given; the others stay.")
    async def update_webhook(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The webhook's id.")],
        input: Annotated[
            UpdateWebhookInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> Webhook:
        await info.context.require_admin()
        row = await ops.update_webhook(
            info.context.session,
            id,
            allow_private=info.context.settings.webhook_allow_private_targets,
            **_sent(input),
        )
        return Webhook.from_row(row)

    @strawberry.mutation(description="Remove a webhook; nothing more is sent to it.")
    async def delete_webhook(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The webhook's id.")],
    ) -> DeleteWebhookPayload:
        await info.context.require_admin()
        await ops.delete_webhook(info.context.session, id)
        return DeleteWebhookPayload(id=id, deleted=True)

    @strawberry.mutation(description="A new signing secret, shown once.")
    async def rotate_webhook_secret(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The webhook's id.")],
    ) -> Webhook:
        await info.context.require_admin()
        row, secret = await ops.rotate_secret(info.context.session, id)
        return Webhook.from_row(row, info.context.show_once(secret))

    @strawberry.mutation(
        description="Issue a key for the provider's .ics feed (calendar apps keep the URL); "
        "earlier keys stay valid until revoked."
    )
    async def provider_calendar_feed(
        self,
        info: Info[Context, None],
        provider_id: Annotated[int, strawberry.argument(description="The provider's id.")],
    ) -> ProviderCalendarFeed:
        await info.context.require_admin()
        key = await calendar_feed.issue_key(info.context.session, provider_id)
        request = info.context.request
        base = public_base(info.context.settings, request.base_url if request else "")
        return ProviderCalendarFeed(
            provider_id=provider_id, key=key, url=calendar_feed.feed_url(base, provider_id, key)
        )

    @strawberry.mutation(description="Revoke every feed key of the provider; returns how many.")
    async def revoke_provider_calendar_feed(
        self,
        info: Info[Context, None],
        provider_id: Annotated[int, strawberry.argument(description="The provider's id.")],
    ) -> int:
        await info.context.require_admin()
        return await calendar_feed.revoke_keys(info.context.session, provider_id)
