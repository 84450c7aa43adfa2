"""Domain errors as GraphQL errors with the contract's extensions; everything else masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from models.errors import DomainError, ServiceUnavailable
from rest_compat.errors import is_connection_loss

logger = logging.getLogger("clinic_availability.graphql")


def error_extensions(error: DomainError) -> dict[str, object]:
    extensions: dict[str, object] = {
        "code": error.code,
        "status": error.status,
        "errors": error.errors,
    }
    extensions.update(error.extra)
    return extensions


def _translate(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if original is None:
        return error  # a parse or validation error: already about the document
    if isinstance(original, DomainError):
        domain = original
    elif is_connection_loss(original):
        domain = ServiceUnavailable()
    else:
        logger.error(
            "unhandled error in GraphQL resolver at %s",
            ".".join(str(part) for part in error.path or ()),
            exc_info=(type(original), original, original.__traceback__),
        )
        domain = DomainError()
    return GraphQLError(
        domain.detail if not isinstance(domain.errors, dict) else "Validation failed",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=error_extensions(domain),
    )


class DomainErrors(SchemaExtension):
    """Turns resolver exceptions into the contract's error codes."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [_translate(error) for error in result.errors]
