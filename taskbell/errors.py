"""Domain exceptions; each carries the stable ``extensions.code`` clients see."""

from __future__ import annotations


class DomainError(Exception):
    """An expected failure whose message is safe to show to the client."""

    code = "INTERNAL"

    def __init__(self, message: str, *, extensions: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions or {}


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class NotFound(DomainError):
    code = "NOT_FOUND"


class BadUserInput(DomainError):
    code = "BAD_USER_INPUT"


class Conflict(DomainError):
    code = "CONFLICT"


class RateLimited(DomainError):
    code = "RATE_LIMITED"
