"""Appointment types and provider matching read through GraphQL too: no rendered root
field may fall back in these tests."""

from tests.graphql.plan_switch import no_rendering_fallback

__all__ = ["no_rendering_fallback"]
