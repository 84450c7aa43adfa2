"""GraphQL object types over the domain rows."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.entities import Patient as PatientRow
from models.entities import Provider as ProviderRow


@strawberry.type
class Provider:
    id: int
    first_name: str
    last_name: str
    time_zone: str
    active: bool

    @classmethod
    def from_row(cls, row: ProviderRow) -> Provider:
        return cls(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            time_zone=row.time_zone,
            active=row.active,
        )


@strawberry.type
class Patient:
    id: int
    first_name: str
    last_name: str
    active: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: PatientRow) -> Patient:
        return cls(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            active=row.active,
            created_at=row.created_at,
        )
