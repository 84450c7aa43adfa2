"""Sessions with the audit trail and idempotency hooks installed."""

from __future__ import annotations

import weakref

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from models.platform.audit import install_audit_hooks
from models.platform.db import READER, Reader
from models.platform.events import install_event_hooks
from models.platform.idempotency import install_idempotency_hooks


def create_sessionmaker(
    engine: AsyncEngine, *, read_engine: AsyncEngine | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``; with ``read_engine``, pure reads outside a transaction use it."""
    install_audit_hooks()
    install_idempotency_hooks()
    install_event_hooks()
    info = {READER: Reader(read_engine, reports_to=engine)} if read_engine is not None else {}
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


# Sessions the fast lanes left as they found them, kept per sessionmaker for the next
# request: making one (a Session, its identity map, the async proxy's registration) costs
# more than many a read it serves.
_idle: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], list[AsyncSession]] = (
    weakref.WeakKeyDictionary()
)
MAX_IDLE = 64


class RequestSession:
    """``async with RequestSession(sessionmaker) as session``: one request's session,
    closed as ``async with sessionmaker()`` closes it. A session that never began a
    transaction (its reads went to the read engine) holds no connection: it is closed
    in place, without the greenlet and the shielded task a close that releases one needs,
    and one that holds no object either has nothing to close.

    ``reuse``: the caller keeps no reference to the session once the block ends (no task
    or reply holds it), so a session left as new (no transaction, no object, its ``info``
    as the sessionmaker gives it) serves a later request instead of a new one. A caller
    may set it inside the block, once it knows.
    """

    __slots__ = ("idle", "reuse", "session", "sessionmaker")

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, reuse: bool = False
    ) -> None:
        self.sessionmaker = sessionmaker
        self.reuse = reuse
        self.idle = idle = _idle.get(sessionmaker)
        self.session = idle.pop() if idle else sessionmaker()

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        sync = self.session.sync_session
        if sync.in_transaction():
            await self.session.__aexit__(*exc)
        # (An object marked deleted is persistent: in the identity map until flushed.)
        elif sync.identity_map or sync.new:
            sync.close()
        elif self.reuse and sync.info == self.sessionmaker.kw.get("info", {}):
            idle = self.idle
            if idle is None:
                # (Another request may have made the list since this one began.)
                idle = _idle.setdefault(self.sessionmaker, [])
            if len(idle) < MAX_IDLE:
                idle.append(self.session)
