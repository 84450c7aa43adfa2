"""Every GraphQL test here runs with the compiled query plan on and off."""

from tests.graphql.plan_switch import plan_settings

__all__ = ["plan_settings"]
