"""Domain errors as GraphQL errors with the contract's extensions; everything else masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from common.db_errors import is_connection_loss
from common.request_context import current_request_id, new_request_id
from models.platform.errors import DomainError, ServiceUnavailable

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
    if original is None or isinstance(original, GraphQLError):
        # About the document or the variables (a value a scalar cannot read): the
        # message is meant for the client as it is.
        return error
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
    extensions = error_extensions(domain)
    if type(domain) is DomainError:
        extensions["request_id"] = current_request_id() or new_request_id()
    return GraphQLError(
        domain.detail if not isinstance(domain.errors, dict) else "Validation failed",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def _signal_unavailable(context: object) -> None:
    """Database gone: the HTTP reply itself says 503 and when to retry, as REST does."""
    response = getattr(context, "response", None)
    if response is not None:
        response.status_code = ServiceUnavailable.status
        response.headers["Retry-After"] = "1"


class DomainErrors(SchemaExtension):
    """Turns resolver exceptions into the contract's error codes."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [_translate(error) for error in result.errors]
            codes = {(error.extensions or {}).get("code") for error in result.errors}
            if ServiceUnavailable.code in codes:
                _signal_unavailable(self.execution_context.context)


def refusal_error(exc: Exception, context: object) -> GraphQLError:
    """The error for an operation refused before it runs (the caller is not an admin, or
    the database is gone while checking); anything else is a fault and propagates."""
    if isinstance(exc, DomainError):
        domain = exc
    elif is_connection_loss(exc):
        domain = ServiceUnavailable()
    else:
        raise exc
    if isinstance(domain, ServiceUnavailable):
        _signal_unavailable(context)
    return GraphQLError(domain.detail, extensions=error_extensions(domain))
