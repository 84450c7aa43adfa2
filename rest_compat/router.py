"""All legacy routes under the documented base path."""

from fastapi import APIRouter

from rest_compat import slots

BASE_PATH = "/v1/admin/clinic/availability"


def legacy_router() -> APIRouter:
    router = APIRouter(prefix=BASE_PATH)
    router.include_router(slots.router)
    return router
