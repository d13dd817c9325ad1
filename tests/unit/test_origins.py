"""How TASKBELL_ALLOWED_ORIGINS is read and what counts as the same origin."""

from __future__ import annotations

import pytest

from taskbell.web.origins import is_same_origin, normalize_origin, normalize_origins


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        ("https://App.Example.com", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("https://app.example.com/", "https://app.example.com"),
        ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_configured_origins_are_compared_as_browsers_send_them(configured: str, sent: str) -> None:
    """Case and default ports do not matter: the configured origin matches the header."""
    assert normalize_origins([configured]) == {sent}
    assert normalize_origin(sent) == sent


@pytest.mark.parametrize(
    "configured", ["app.example.com", "https://app.example.com/path", "null", "ftp://x.test"]
)
def test_a_configured_value_that_is_not_an_origin_fails_at_start_up(configured: str) -> None:
    """A typo stops the server instead of quietly refusing every user of the SPA."""
    with pytest.raises(ValueError, match="TASKBELL_ALLOWED_ORIGINS"):
        normalize_origins([configured])


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("https://taskbell.example.com", "taskbell.example.com", True),
        ("https://taskbell.example.com", "taskbell.example.com:443", True),
        ("http://127.0.0.1:5173", "127.0.0.1:8000", False),
        ("http://localhost:8000", "127.0.0.1:8000", False),
        ("http://evil.test", None, False),
        ("null", "127.0.0.1:8000", False),
    ],
)
def test_same_origin_means_the_host_and_port_of_the_request(
    origin: str, host: str | None, same: bool
) -> None:
    """Host and port decide; the scheme does not (TLS may end at a proxy)."""
    assert is_same_origin(origin, host) is same
