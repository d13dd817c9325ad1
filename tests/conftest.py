"""Shared by every test layer: the rule for tests that need something missing (PostgreSQL,
Redis, a browser, Node.js): skip, but fail under CI=true; and an HTTP client for the layers
whose tests run against one `server` (e2e, browser); the push service Web Push tests send to."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import NoReturn

import httpx
import pytest
import pytest_asyncio

from tests.support.processes import TaskBellProcess
from tests.support.push_receiver import PushService

RequireService = Callable[[str, str, int], None]


def service_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test, or the module being imported; under CI=true fail instead, so CI never
    passes by skipping."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true forbids skipping", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_service_or_skip(name: str, host: str, port: int) -> None:
    """Skip when the service is down, or under CI=true fail (see `skip_or_fail`)."""
    if not service_reachable(host, port):
        skip_or_fail(f"{name} not reachable at {host}:{port} (start it to run this test)")


@pytest.fixture(scope="session")
def require_service() -> RequireService:
    return require_service_or_skip


@pytest_asyncio.fixture
async def http(server: TaskBellProcess) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the test's `server`, which the layer's conftest provides."""
    async with server.client() as client:
        yield client


@pytest_asyncio.fixture
async def push_service() -> AsyncIterator[PushService]:
    """A real push service on 127.0.0.1 that checks VAPID and decrypts (Web Push tests)."""
    started = PushService()
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests passed against real PostgreSQL and Redis, so CI's log shows it."""
    passed = [report.nodeid for report in terminalreporter.stats.get("passed", [])]
    layers = {
        "e2e [postgres-redis]": [n for n in passed if "/e2e/" in n and "postgres-redis" in n],
        "integration [postgres]": [n for n in passed if "/integration/" in n and "postgres" in n],
        "system (PostgreSQL, Redis)": [n for n in passed if "/system/" in n],
        "browser (Chromium)": [n for n in passed if "/browser/" in n],
    }
    counts = ", ".join(f"{len(ids)} {layer}" for layer, ids in layers.items())
    terminalreporter.write_line(f"passed against real services: {counts}")
