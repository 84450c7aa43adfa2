"""A provider's availability as an iCalendar feed, for calendar apps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from common.deps import SessionDep, SettingsDep, TokenDep
from common.strict_numbers import PathId
from models.integrations import calendar_feed
from models.platform.errors import FieldErrors, Forbidden, Unauthenticated
from models.platform.timeutil import now_utc
from models.platform.users import authenticate
from rest_compat.schemas import MAX_ID, error_responses

router = APIRouter(tags=["Calendar feed"])
DateParam = Annotated[str | None, Query(description="YYYY-MM-DD in the clinic time zone")]


# HEAD answers as GET without the body (calendar apps probe a feed this way); one
# OpenAPI entry for both.
@router.head("/providers/{provider_id}/calendar.ics", include_in_schema=False)
@router.get(
    "/providers/{provider_id}/calendar.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "RFC 5545 calendar"},
        **error_responses(404, 422),
        401: {
            **error_responses(401)[401],
            "description": "No admin token and no valid feed key (a non-admin's token too)",
        },
    },
    summary="The provider's slots as an iCalendar feed (GET or HEAD)",
    description="One VEVENT per slot starting in start_date..end_date (default: the next 90 "
    "days), summarised Open, Booked n of m or Closed; no patient data. Needs an admin token, "
    "or `key`: a feed key issued by the GraphQL mutation providerCalendarFeed; anything else "
    "is 401.",
)
async def provider_calendar(
    request: Request,
    provider_id: Annotated[PathId, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    settings: SettingsDep,
    token: TokenDep,
    key: Annotated[str | None, Query(description="A provider feed key")] = None,
    start_date: DateParam = None,
    end_date: DateParam = None,
) -> Response:
    allowed = key is not None and await calendar_feed.key_opens_feed(session, provider_id, key)
    if not allowed:
        # An admin token or the provider's feed key opens the feed; anything else, a
        # non-admin's token included, is 401.
        try:
            await authenticate(session, token, cache_seconds=settings.token_cache_seconds)
        except Forbidden:
            raise Unauthenticated() from None
    errors = FieldErrors()
    start, end = calendar_feed.feed_window(
        errors,
        start_date=start_date,
        end_date=end_date,
        zone=settings.clinic_zone,
        max_range_days=settings.max_query_range_days,
    )
    errors.raise_if_any()
    slots = await calendar_feed.feed_slots(session, provider_id, start, end)
    body = calendar_feed.render_calendar(provider_id, slots, generated_at=now_utc()).encode()
    media_type = "text/calendar; charset=utf-8"
    if request.method == "HEAD":
        # What GET would send, without the body: calendar apps probe a feed this way.
        return Response(media_type=media_type, headers={"content-length": str(len(body))})
    return Response(body, media_type=media_type)
