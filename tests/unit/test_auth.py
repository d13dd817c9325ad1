"""Tokens and passwords."""

from __future__ import annotations

import pytest

from taskbell import auth


def test_token_is_256_bits_and_digest_is_stable() -> None:
    """Tokens are random 256-bit secrets; only their SHA-256 is stored."""
    token = auth.new_token()
    assert len(token) >= 43
    assert auth.token_digest(token) == auth.token_digest(token)
    assert auth.token_digest(token) != auth.token_digest(auth.new_token())


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_bearer_header_parsing(header: object, token: str | None) -> None:
    """Only `Bearer <token>` carries a token."""
    assert auth.bearer_token(header) == token


def test_password_check_accepts_only_the_right_password() -> None:
    """Argon2 verification; an unknown user (no hash) never matches."""
    stored = auth.hash_password("correct horse")
    assert auth.verify_password(stored, "correct horse")
    assert not auth.verify_password(stored, "wrong horse")
    assert not auth.verify_password(None, "correct horse")


def test_a_user_without_a_password_never_matches() -> None:
    """JWT users store NO_PASSWORD: no guess, not even the empty one, signs them in."""
    assert not auth.verify_password(auth.NO_PASSWORD, "")
    assert not auth.verify_password(auth.NO_PASSWORD, "correct horse")
