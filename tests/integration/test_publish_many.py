"""Publishing a batch: in order on every backend; a failure is counted and repaired."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest

from taskbell import events
from taskbell.metrics import Metrics
from taskbell.realtime.hub import Hub
from taskbell.realtime.stats import Stats
from tests.conftest import RequireService
from tests.integration.conftest import POSTGRES_URL, REDIS_URL, _server


@pytest.fixture(params=["memory", "redis", "postgres"])
async def hub(
    request: pytest.FixtureRequest, require_service: RequireService
) -> AsyncIterator[Hub]:
    """A started hub on each kind of broadcast backend."""
    url = {"memory": "memory://", "redis": REDIS_URL, "postgres": POSTGRES_URL}[request.param]
    if request.param == "redis":
        require_service("Redis", "127.0.0.1", 6379)
    if request.param == "postgres":
        require_service("PostgreSQL", *_server(POSTGRES_URL))
    started = Hub(url, Metrics(Stats()))
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


def _note(n: int) -> events.TokenRevoked:
    return events.TokenRevoked(user_id=1, token_id=n)


def _failures(hub: Hub) -> float:
    return hub._metrics.publish_failures._value.get()  # type: ignore[no-any-return]  # prometheus_client keeps it private


async def test_a_batch_reaches_every_channel_in_order(hub: Hub) -> None:
    """Each channel receives its messages of the batch, in the order they were given."""
    first, second = (f"test.{uuid.uuid4().hex[:8]}.{n}" for n in range(2))
    async with hub.listen([first], 10) as on_first, hub.listen([second], 10) as on_second:
        sent = await hub.publish_many([(first, _note(1)), (second, _note(2)), (first, _note(3))])
        got_first = [await asyncio.wait_for(on_first.get(), 5) for _ in range(2)]
        got_second = await asyncio.wait_for(on_second.get(), 5)
    assert sent is True
    assert got_first == [_note(1), _note(3)]
    assert got_second == _note(2)
    assert _failures(hub) == 0


async def test_a_failed_batch_is_counted_then_resynced(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker refusing a batch fails nobody; every channel of it gets a Resync later."""
    channels = [f"test.{uuid.uuid4().hex[:8]}.{n}" for n in range(2)]

    async def refuse(_messages: Sequence[tuple[str, str]]) -> None:
        raise ConnectionError("broker away")

    async with hub.listen(channels[:1], 10) as on_first, hub.listen(channels[1:], 10) as on_second:
        with monkeypatch.context() as patched:
            patched.setattr(hub._backend, "publish_many", refuse)
            sent = await hub.publish_many([(c, _note(n)) for n, c in enumerate(channels)])
        assert sent is False
        assert _failures(hub) == 2
        assert await asyncio.wait_for(on_first.get(), 5) == events.Resync()
        assert await asyncio.wait_for(on_second.get(), 5) == events.Resync()
