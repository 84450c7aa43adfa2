"""Webhook registrations and their delivery history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from common.deps import AdminDep, SessionDep, SettingsDep
from common.strict_numbers import PathId
from models.integrations import webhooks as ops
from models.platform.event_tables import Webhook, WebhookDelivery
from models.platform.events import EVENT_TYPES
from models.platform.timeutil import format_timestamp
from rest_compat.responses import JSONBody
from rest_compat.schemas import AUTH_ERRORS, MAX_ID, error_responses

router = APIRouter(prefix="/webhooks", tags=["Webhooks"])

WebhookId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="Webhook id")]
EVENTS_DESCRIPTION = 'Event types, or `["*"]` for all: ' + ", ".join(EVENT_TYPES)
# The secret is shown once: never cached, never replayed for an Idempotency-Key.
SHOWN_ONCE = {"cache-control": "no-store"}


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str | None
    active: bool
    created_at: str
    secret: str | None = Field(
        default=None, description="Only in the reply to create and rotate_secret"
    )


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    last_response_code: int | None
    next_attempt_at: str | None
    delivered_at: str | None


class WebhookFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: Any = None
    events: Any = Field(default=None, description=EVENTS_DESCRIPTION)
    description: Any = None
    active: Any = None

    def sent_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class WebhookBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "webhook": {
                    "url": "https://ehr.example.com/hooks/availability",
                    "events": ["booking.created", "booking.cancelled"],
                    "description": "EHR sync",
                }
            }
        },
    )

    webhook: WebhookFields


def webhook_json(webhook: Webhook, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": webhook.id,
        "url": webhook.url,
        "events": list(webhook.events),
        "description": webhook.description,
        "active": webhook.active,
        "created_at": format_timestamp(webhook.created_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    pending = delivery.status == ops.PENDING
    return {
        "id": delivery.id,
        "event_id": str(delivery.event_id),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_response_code": delivery.last_response_code,
        "next_attempt_at": format_timestamp(delivery.next_attempt_at) if pending else None,
        "delivered_at": (
            format_timestamp(delivery.delivered_at) if delivery.delivered_at else None
        ),
    }


@router.post(
    "",
    status_code=201,
    response_model=WebhookOut,
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="Register a webhook (the reply shows its signing secret, once)",
)
async def create_webhook(
    body: WebhookBody, _admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> Response:
    fields = body.webhook
    webhook, secret = await ops.create_webhook(
        session,
        url=fields.url,
        events=fields.events,
        description=fields.description,
        allow_private=settings.webhook_allow_private_targets,
    )
    return JSONBody(webhook_json(webhook, secret), status_code=201, headers=SHOWN_ONCE)


@router.get("", response_model=list[WebhookOut], responses=error_responses(*AUTH_ERRORS))
async def list_webhooks(_admin: AdminDep, session: SessionDep) -> Response:
    return JSONBody([webhook_json(item) for item in await ops.list_webhooks(session)])


@router.get(
    "/{webhook_id}", response_model=WebhookOut, responses=error_responses(*AUTH_ERRORS, 404)
)
async def get_webhook(webhook_id: WebhookId, _admin: AdminDep, session: SessionDep) -> Response:
    return JSONBody(webhook_json(await ops.get_webhook(session, webhook_id)))


@router.put(
    "/{webhook_id}",
    response_model=WebhookOut,
    responses=error_responses(*AUTH_ERRORS, 404, 422),
    summary="Change a webhook's url, events, description or active",
)
async def update_webhook(
    webhook_id: WebhookId,
    body: WebhookBody,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    webhook = await ops.update_webhook(
        session,
        webhook_id,
        allow_private=settings.webhook_allow_private_targets,
        **body.webhook.sent_fields(),
    )
    return JSONBody(webhook_json(webhook))


@router.post(
    "/{webhook_id}/rotate_secret",
    response_model=WebhookOut,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Replace the signing secret (the reply shows the new one, once)",
)
async def rotate_secret(webhook_id: WebhookId, _admin: AdminDep, session: SessionDep) -> Response:
    webhook, secret = await ops.rotate_secret(session, webhook_id)
    return JSONBody(webhook_json(webhook, secret), headers=SHOWN_ONCE)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTH_ERRORS, 404),
)
async def delete_webhook(webhook_id: WebhookId, _admin: AdminDep, session: SessionDep) -> Response:
    await ops.delete_webhook(session, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="The webhook's deliveries, newest event first",
)
async def list_deliveries(
    webhook_id: WebhookId,
    _admin: AdminDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    deliveries = await ops.list_deliveries(session, webhook_id, limit=limit)
    return JSONBody([delivery_json(item) for item in deliveries])
