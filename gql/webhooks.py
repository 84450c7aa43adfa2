"""Webhooks and calendar feed keys over GraphQL: the same operations as the REST face."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from common.public_url import public_base
from gql.context import Context
from models.integrations import calendar_feed
from models.integrations import webhooks as ops
from models.platform.event_tables import Webhook as WebhookRow
from models.platform.event_tables import WebhookDelivery as DeliveryRow


@strawberry.type(description="Where events are POSTed, signed per Standard Webhooks.")
class Webhook:
    id: int
    url: str
    events: list[str]
    description: str | None
    active: bool
    created_at: datetime
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


@strawberry.type(description="One event's delivery to one webhook.")
class WebhookDelivery:
    id: int
    event_id: str
    status: str = strawberry.field(description="pending, delivered or failed")
    attempts: int
    last_response_code: int | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: DeliveryRow) -> WebhookDelivery:
        pending = row.status == ops.PENDING
        return cls(
            id=row.id,
            event_id=str(row.event_id),
            status=row.status,
            attempts=row.attempts,
            last_response_code=row.last_response_code,
            next_attempt_at=row.next_attempt_at if pending else None,
            delivered_at=row.delivered_at,
        )


@strawberry.input
class CreateWebhookInput:
    url: str
    events: list[str] = strawberry.field(description='Event types, or ["*"] for all.')
    description: str | None = None


@strawberry.input(description="Only the fields given change.")
class UpdateWebhookInput:
    url: str | None = strawberry.UNSET
    events: list[str] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


@strawberry.type
class DeleteWebhookPayload:
    id: int
    deleted: bool


@strawberry.type(description="A provider's calendar feed URL; the key is shown once.")
class ProviderCalendarFeed:
    provider_id: int
    key: str
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

    @strawberry.field
    async def webhook(self, info: Info[Context, None], id: int) -> Webhook:
        await info.context.require_admin()
        return Webhook.from_row(await ops.get_webhook(info.context.session, id))

    @strawberry.field(description="A webhook's deliveries, newest event first.")
    async def webhook_deliveries(
        self, info: Info[Context, None], webhook_id: int, limit: int = 100
    ) -> list[WebhookDelivery]:
        await info.context.require_admin()
        rows = await ops.list_deliveries(info.context.session, webhook_id, limit=limit)
        return [WebhookDelivery.from_row(row) for row in rows]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Register a webhook; the reply shows its secret once.")
    async def create_webhook(self, info: Info[Context, None], input: CreateWebhookInput) -> Webhook:
        await info.context.require_admin()
        row, secret = await ops.create_webhook(
            info.context.session,
            url=input.url,
            events=input.events,
            description=input.description,
            allow_private=info.context.settings.webhook_allow_private_targets,
        )
        return Webhook.from_row(row, info.context.show_once(secret))

    @strawberry.mutation
    async def update_webhook(
        self, info: Info[Context, None], id: int, input: UpdateWebhookInput
    ) -> Webhook:
        await info.context.require_admin()
        row = await ops.update_webhook(
            info.context.session,
            id,
            allow_private=info.context.settings.webhook_allow_private_targets,
            **_sent(input),
        )
        return Webhook.from_row(row)

    @strawberry.mutation
    async def delete_webhook(self, info: Info[Context, None], id: int) -> DeleteWebhookPayload:
        await info.context.require_admin()
        await ops.delete_webhook(info.context.session, id)
        return DeleteWebhookPayload(id=id, deleted=True)

    @strawberry.mutation(description="A new signing secret, shown once.")
    async def rotate_webhook_secret(self, info: Info[Context, None], id: int) -> Webhook:
        await info.context.require_admin()
        row, secret = await ops.rotate_secret(info.context.session, id)
        return Webhook.from_row(row, info.context.show_once(secret))

    @strawberry.mutation(
        description="Issue a key for the provider's .ics feed (calendar apps keep the URL); "
        "earlier keys stay valid until revoked."
    )
    async def provider_calendar_feed(
        self, info: Info[Context, None], provider_id: int
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
        self, info: Info[Context, None], provider_id: int
    ) -> int:
        await info.context.require_admin()
        return await calendar_feed.revoke_keys(info.context.session, provider_id)
