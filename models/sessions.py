"""Sessions with the audit trail and idempotency hooks installed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from models.audit import install_audit_hooks
from models.events import install_event_hooks
from models.idempotency import install_idempotency_hooks


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    install_audit_hooks()
    install_idempotency_hooks()
    install_event_hooks()
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
