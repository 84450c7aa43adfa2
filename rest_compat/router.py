"""All legacy routes under the documented base path."""

from fastapi import APIRouter

from rest_compat import (
    appointment_types,
    batch,
    books,
    calendar,
    external_calendars,
    find,
    holds,
    provider_slots,
    resources,
    slots,
    time_offs,
    utilization,
    waitlist,
    webhooks,
)

BASE_PATH = "/v1/admin/clinic/availability"


def legacy_router() -> APIRouter:
    router = APIRouter(prefix=BASE_PATH)
    # Before any /providers/{id} route, which would otherwise capture this path.
    router.include_router(utilization.router)
    router.include_router(calendar.router)
    router.include_router(external_calendars.router)
    router.include_router(provider_slots.router)
    router.include_router(batch.router)
    router.include_router(slots.router)
    router.include_router(books.router)
    router.include_router(holds.router)
    router.include_router(time_offs.router)
    router.include_router(webhooks.router)
    router.include_router(appointment_types.router)
    router.include_router(resources.router)
    router.include_router(find.router)
    router.include_router(waitlist.router)
    return router
