"""Compiled query plans: GraphQL queries answered without graphql-core's per-field work."""

from gql.plan.extension import CompiledPlan, compiled_plan_extension

__all__ = ["CompiledPlan", "compiled_plan_extension"]
