"""Apps made in one process share their REST and FHIR routes, never their data: each
answers from its own database, with its own settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from clinic_availability.app import create_app
from common.settings import Settings
from models.platform.users import flush_last_use
from tests.factories import SLOTS, Factory, future


async def test_two_apps_in_one_process_answer_from_their_own_databases(
    sqlite_template: Path, tmp_path: Path
) -> None:
    apps = []
    for name in ("first", "second"):
        path = tmp_path / f"{name}.db"
        shutil.copyfile(sqlite_template, path)
        apps.append(
            create_app(Settings(database_url=f"sqlite+aiosqlite:///{path}", token_cache_seconds=0))
        )
    try:
        seen, tokens = [], []
        for count, app in enumerate(apps, start=1):
            async with app.state.sessionmaker() as session:
                seed = Factory(session)
                provider = await seed.provider()
                for hour in range(count):
                    await seed.slot(provider, start=future(48 + 2 * hour))
                token = await seed.token()
                await session.commit()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                reply = await http.get(SLOTS, headers={"X-User-Token": token})
                fhir = await http.get("/fhir/metadata", headers={"X-User-Token": token})
            assert reply.status_code == 200
            assert fhir.status_code == 200
            seen.append(len(reply.json()))
            tokens.append(token)
        assert seen == [1, 2]
        # The first app's token means nothing to the second, whose database never had it.
        transport = httpx.ASGITransport(app=apps[1])
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            stranger = await http.get(SLOTS, headers={"X-User-Token": tokens[0]})
        assert stranger.status_code == 401
    finally:
        await flush_last_use()
        for app in apps:
            await app.state.engine.dispose()
