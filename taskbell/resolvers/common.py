"""Argument parsing shared by every resolver."""

from __future__ import annotations

from collections.abc import Sequence

from taskbell.errors import BadUserInput

# Ids are 32-bit integers in every table.
ID_MAX = 2**31 - 1


def parse_id(value: str, what: str = "id") -> int:
    """Turn a GraphQL ID into a row id; anything else is the client's mistake."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= ID_MAX:
        raise BadUserInput(f"{what} must be a positive integer id.")
    return int(text)


def parse_ids(values: Sequence[str] | None, what: str = "id") -> list[int] | None:
    return None if values is None else [parse_id(v, what) for v in values]
