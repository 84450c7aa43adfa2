"""Every GraphQL test here runs with rendered JSON, the compiled plan alone, and neither."""

from tests.graphql.plan_switch import no_rendering_fallback, plan_settings

__all__ = ["no_rendering_fallback", "plan_settings"]
