"""Every error leaves with a stable ``extensions.code``; unexpected ones are masked and logged."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from taskbell.errors import DomainError

log = logging.getLogger("taskbell.errors")


def is_unexpected(error: GraphQLError) -> bool:
    """Domain errors and GraphQL's own (syntax, validation, limits) are safe to show."""
    original = error.original_error
    return original is not None and not isinstance(original, DomainError | GraphQLError)


def present_errors(errors: list[GraphQLError], request_id: str) -> list[GraphQLError]:
    """What the client may see: a code on every error, internals replaced and logged."""
    presented = []
    for error in errors:
        original = error.original_error
        if is_unexpected(error):
            log.error(
                "unexpected error (request %s) at %s", request_id, error.path, exc_info=original
            )
            error = GraphQLError(
                "Internal server error.",
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": "INTERNAL", "requestId": request_id},
            )
        elif isinstance(original, DomainError):
            error.extensions = {**original.extensions, "code": original.code}
        elif not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
        presented.append(error)
    return presented


class ErrorCodes(MaskErrors):
    """Applies ``present_errors`` to every result, streamed ones included."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        request_id = str(getattr(self.execution_context.context, "request_id", "-"))
        return present_errors(errors, request_id)
