"""Runs a module's GraphQL tests three times: with rendered JSON, with the compiled query
plan alone, and with graphql-core alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.settings import Settings

MODES = {"rendered": (True, True), "plan": (True, False), "graphql-core": (False, False)}


@pytest.fixture(name="settings", params=tuple(MODES.values()), ids=tuple(MODES))
def plan_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The surrounding settings with the rendered path, the plan alone, then neither."""
    plan, render = request.param
    return settings.model_copy(
        update={"graphql_compiled_plan": plan, "graphql_rendered_json": render}
    )


@pytest.fixture(autouse=True)
def no_rendering_fallback(request: pytest.FixtureRequest) -> Iterator[None]:
    """No root field the database renders was answered otherwise during the test."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    yield
    cache = getattr(app.state, "graphql_plan", None)
    assert cache is None or cache.fallbacks == 0, "the rendered path fell back"
