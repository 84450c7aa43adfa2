"""Resources (rooms, equipment) a slot may need: queries and mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from gql.context import Context
from models.platform.entities import Resource as ResourceRow
from models.scheduling import resources as ops


@strawberry.type(description="A room or a piece of equipment a slot may need.")
class Resource:
    id: int = strawberry.field(description="The resource's id.")
    name: str = strawberry.field(description="The name shown to people.")
    kind: str = strawberry.field(
        description="What a slot's `resourceKind` names (room, say); fixed while a slot keeps it."
    )
    active: bool = strawberry.field(
        description="False once retired: assigned to no more slots (slots keeping it keep it)."
    )
    created_at: datetime = strawberry.field(description="When the resource was created.")
    updated_at: datetime = strawberry.field(description="When the resource last changed.")

    @classmethod
    def from_row(cls, row: ResourceRow) -> Resource:
        return cls(
            id=row.id,
            name=row.name,
            kind=row.kind,
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(description="A new resource.")
class CreateResourceInput:
    name: str = strawberry.field(description="At most 100 characters.")
    kind: str = strawberry.field(description="Lower-case letters, digits and _; at most 40.")
    active: bool = strawberry.field(default=True, description="False: created retired.")


@strawberry.input(description="Only the fields given change.")
class UpdateResourceInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    kind: str | None = strawberry.field(
        default=strawberry.UNSET, description="New kind; refused while a slot keeps the resource."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="False retires the resource; true brings it back."
    )


def _values(source: object) -> dict[str, Any]:
    return {name: value for name, value in vars(source).items() if value is not strawberry.UNSET}


@strawberry.type
class ResourceQuery:
    @strawberry.field(description="The clinic's resources in id order.")
    async def resources(
        self,
        info: Info[Context, None],
        kind: Annotated[
            str | None, strawberry.argument(description="Only resources of this kind.")
        ] = None,
        active: Annotated[
            bool | None,
            strawberry.argument(description="Only active (true) or retired (false) resources."),
        ] = None,
    ) -> list[Resource]:
        await info.context.require_admin()
        rows = await ops.list_resources(info.context.session, kind=kind, active=active)
        return [Resource.from_row(row) for row in rows]

    @strawberry.field(description="One resource by id.")
    async def resource(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The resource's id.")],
    ) -> Resource:
        await info.context.require_admin()
        return Resource.from_row(await ops.get_resource(info.context.session, id))


@strawberry.type
class ResourceMutation:
    @strawberry.mutation(description="Add a resource (a room, a piece of equipment).")
    async def create_resource(
        self,
        info: Info[Context, None],
        input: Annotated[CreateResourceInput, strawberry.argument(description="The new resource.")],
    ) -> Resource:
        await info.context.require_admin()
        row = await ops.create_resource(info.context.session, _values(input))
        return Resource.from_row(row)

    @strawberry.mutation(description="Change a resource; `active: false` retires it.")
    async def update_resource(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The resource's id.")],
        input: Annotated[UpdateResourceInput, strawberry.argument(description="What changes.")],
    ) -> Resource:
        await info.context.require_admin()
        row = await ops.update_resource(info.context.session, id, _values(input))
        return Resource.from_row(row)
