"""Shared by every test layer: the rule for tests that need PostgreSQL or Redis."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import pytest

RequireService = Callable[[str, str, int], None]


def service_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service_or_skip(name: str, host: str, port: int) -> None:
    """Skip when the service is down; under CI=true fail instead, so CI never passes by skipping."""
    if service_reachable(host, port):
        return
    reason = f"{name} not reachable at {host}:{port} (start it to run this test)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true forbids skipping")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def require_service() -> RequireService:
    return require_service_or_skip
