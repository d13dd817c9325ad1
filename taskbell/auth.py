"""Passwords (Argon2) and opaque bearer tokens (random 256 bits, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs as much as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

BEARER_PREFIX = "bearer "
# The stored hash of a user who has no password (signed in by a host app's JWT).
NO_PASSWORD = ""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-time check; an unknown user, or one with no password, still pays for one
    verification and never matches."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 is enough for a 256-bit random secret and keeps lookups cheap."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(header_value: object) -> str | None:
    """Extract the token from ``Bearer <token>``; anything else is no token."""
    if not isinstance(header_value, str) or not header_value.lower().startswith(BEARER_PREFIX):
        return None
    token = header_value[len(BEARER_PREFIX) :].strip()
    return token or None
