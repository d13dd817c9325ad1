"""Resume cursors are opaque to clients and strict about what they accept."""

from __future__ import annotations

import pytest

from taskbell.cursors import decode_cursor, encode_cursor
from taskbell.errors import BadUserInput


def test_cursor_round_trips_positions_of_several_projects() -> None:
    """A cursor carries one position per project."""
    assert decode_cursor(encode_cursor({3: 7, 1: 0})) == {1: 0, 3: 7}


@pytest.mark.parametrize(
    "cursor", ["", "garbage", "v1.", "v1.!!!", "v2.e30", "v1.WzFd", "v1.eyIwIjoxfQ"]
)
def test_malformed_cursor_is_bad_user_input(cursor: str) -> None:
    """Anything the server did not issue is refused with BAD_USER_INPUT."""
    with pytest.raises(BadUserInput):
        decode_cursor(cursor)
