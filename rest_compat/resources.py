"""Resources (rooms, equipment) a slot may need: list, get, create, update.

There is no delete: ``active: false`` retires a resource (it is assigned no more; slots
keeping it keep it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from common.deps import AdminDep, SessionDep
from common.strict_numbers import PathId
from models.platform.entities import Resource
from models.platform.timeutil import format_timestamp
from models.scheduling import resources as ops
from rest_compat.responses import JSONBody
from rest_compat.schemas import AUTH_ERRORS, MAX_ID, error_responses

router = APIRouter(prefix="/resources", tags=["Resources"])

ResourceId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="Resource id")]
KIND_DESCRIPTION = "Lower-case letters, digits and _, at most 40: what a slot's resource_kind names"
RESOURCE_EXAMPLE: dict[str, Any] = {
    "id": 3,
    "name": "Room 2",
    "kind": "room",
    "active": True,
    "created_at": "2030-10-20T10:00:00.000Z",
    "updated_at": "2030-10-20T10:00:00.000Z",
}


class ResourceOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": RESOURCE_EXAMPLE})

    id: int
    name: str
    kind: str = Field(description=KIND_DESCRIPTION)
    active: bool = Field(description="A retired resource (false) is assigned to no more slots")
    created_at: str
    updated_at: str


class ResourceFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Any = Field(default=None, description="At most 100 characters")
    kind: Any = Field(
        default=None, description=KIND_DESCRIPTION + "; fixed while a slot keeps the resource"
    )
    active: Any = Field(default=None, description="false retires the resource (default true)")

    def sent_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class ResourceBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"example": {"resource": {"name": "Room 2", "kind": "room"}}},
    )

    resource: ResourceFields = Field(default_factory=ResourceFields)


def resource_json(row: Resource) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "active": row.active,
        "created_at": format_timestamp(row.created_at),
        "updated_at": format_timestamp(row.updated_at),
    }


@router.get(
    "",
    response_model=list[ResourceOut],
    responses=error_responses(*AUTH_ERRORS),
    summary="List resources",
    description="In id order; `kind` and `active` filter.",
)
async def list_resources(
    _admin: AdminDep,
    session: SessionDep,
    kind: Annotated[str | None, Query(description="Only resources of this kind")] = None,
    active: Annotated[bool | None, Query(description="Only active (true) or retired")] = None,
) -> Response:
    rows = await ops.list_resources(session, kind=kind, active=active)
    return JSONBody([resource_json(row) for row in rows])


@router.post(
    "",
    status_code=201,
    response_model=ResourceOut,
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="Create a resource",
    description="Its kind is accepted in every slot's resource_kind from then on.",
)
async def create_resource(body: ResourceBody, _admin: AdminDep, session: SessionDep) -> Response:
    row = await ops.create_resource(session, body.resource.sent_fields())
    return JSONBody(resource_json(row), status_code=201)


@router.get(
    "/{resource_id}",
    response_model=ResourceOut,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Get a resource",
)
async def get_resource(resource_id: ResourceId, _admin: AdminDep, session: SessionDep) -> Response:
    return JSONBody(resource_json(await ops.get_resource(session, resource_id)))


@router.put(
    "/{resource_id}",
    response_model=ResourceOut,
    responses=error_responses(*AUTH_ERRORS, 404, 422),
    summary="Update a resource",
    description="Only the fields sent change; `active: false` retires the resource (there "
    "is no delete: slots keeping it keep it).",
)
async def update_resource(
    resource_id: ResourceId, body: ResourceBody, _admin: AdminDep, session: SessionDep
) -> Response:
    row = await ops.update_resource(session, resource_id, body.resource.sent_fields())
    return JSONBody(resource_json(row))
