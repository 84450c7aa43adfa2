"""Objects alive once the application started are left out of the collector's passes."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

import clinic_availability.app as app_module
from clinic_availability import collector
from clinic_availability.app import create_app
from common.settings import Settings


async def test_the_application_freezes_its_startup_objects(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "frozen.db"
    shutil.copyfile(sqlite_template, path)
    calls: list[bool] = []

    def freeze() -> bool:
        calls.append(True)
        return True

    monkeypatch.setattr(app_module, "freeze_startup_objects", freeze)
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    try:
        assert calls == []  # building the application is not starting it
        async with app.router.lifespan_context(app):
            assert calls == [True]
    finally:
        await app.state.engine.dispose()


def test_the_first_freeze_collects_then_freezes_and_later_ones_do_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done: list[str] = []

    def collect() -> int:
        done.append("collect")
        return 0

    monkeypatch.setattr(collector, "_frozen", False)
    monkeypatch.setattr(collector.gc, "collect", collect)
    monkeypatch.setattr(collector.gc, "freeze", lambda: done.append("freeze"))
    assert collector.freeze_startup_objects() is True
    assert collector.freeze_startup_objects() is False
    assert done == ["collect", "freeze"]


def test_a_real_freeze_leaves_objects_out_of_the_collector() -> None:
    before = gc.get_freeze_count()
    collector.freeze_startup_objects()
    # Frozen now or by an earlier application of this process: never undone here.
    assert gc.get_freeze_count() >= before and gc.get_freeze_count() > 0
