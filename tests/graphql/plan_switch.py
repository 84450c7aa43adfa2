"""Runs a module's GraphQL tests twice: with the compiled query plan and without it."""

from __future__ import annotations

import pytest

from common.settings import Settings


@pytest.fixture(name="settings", params=(True, False), ids=("plan", "graphql-core"))
def plan_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The surrounding settings with ``graphql_compiled_plan`` on, then off."""
    return settings.model_copy(update={"graphql_compiled_plan": request.param})
