"""A request's session is left as ``async with sessionmaker()`` leaves it: nothing kept."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from models.platform.sessions import RequestSession
from models.scheduling.people import Provider
from tests.factories import Factory


async def test_objects_a_request_kept_after_its_commit_are_let_go(app: Any) -> None:
    async with RequestSession(app.state.sessionmaker) as session:
        provider = await Factory(session).provider()
        await session.commit()
        assert not session.in_transaction() and provider in session
    assert provider not in session
    assert len(session.identity_map) == 0


async def test_an_object_added_and_never_committed_is_not_written_and_let_go(app: Any) -> None:
    async with RequestSession(app.state.sessionmaker) as session:
        pending = Provider(first_name="Pending", last_name="Added", time_zone="UTC")
        session.add(pending)
        assert session.in_transaction() and pending in session.new
    assert pending not in session and not session.in_transaction()
    async with app.state.sessionmaker() as check:
        found = await check.scalars(select(Provider).where(Provider.first_name == "Pending"))
        assert found.all() == []


async def test_a_session_left_as_new_serves_the_next_request_that_allows_it(app: Any) -> None:
    maker = app.state.sessionmaker
    async with RequestSession(maker, reuse=True) as first:
        await first.execute(select(1))
        await first.commit()
    async with RequestSession(maker, reuse=True) as second:
        assert second is first
    async with RequestSession(maker) as third:
        assert third is first  # an idle session serves any request
    async with RequestSession(maker, reuse=True) as fourth:
        # The caller before did not say nothing holds it: it was not handed on again.
        assert fourth is not first


async def test_a_session_that_kept_something_is_not_reused(app: Any) -> None:
    maker = app.state.sessionmaker
    async with RequestSession(maker, reuse=True) as marked:
        marked.info["mark"] = True
    async with RequestSession(maker, reuse=True) as holding:
        assert holding is not marked
        provider = await Factory(holding).provider()
        await holding.commit()
    assert provider not in holding
    async with RequestSession(maker, reuse=True) as fresh:
        assert fresh is not marked and fresh is not holding
        assert "mark" not in fresh.info and len(fresh.identity_map) == 0
