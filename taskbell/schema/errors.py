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


class ErrorCodes(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal server error.")

    def _request_id(self) -> str:
        return str(getattr(self.execution_context.context, "request_id", "-"))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = self._request_id()
        log.error(
            "unexpected error (request %s) at %s",
            request_id,
            error.path,
            exc_info=error.original_error,
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL", "requestId": request_id}
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            original = error.original_error
            if isinstance(original, DomainError):
                error.extensions = {**original.extensions, "code": original.code}
            elif not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
        return processed
