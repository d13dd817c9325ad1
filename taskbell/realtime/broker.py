"""broadcaster backends that survive their broker restarting.

broadcaster's own Redis and Postgres backends never reconnect (a dropped
connection silently stops all delivery) and the Redis one reports a channel as
ready before SUBSCRIBE completes. These keep broadcaster's interface, reconnect
with backoff, confirm subscriptions, and after every reconnect put a ``Resync``
message on each channel so subscribers re-read the durable log for anything
published while the broker was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from broadcaster import Event
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from taskbell import events
from taskbell.realtime.broadcaster_compat import BroadcastBackend, MemoryBackend

log = logging.getLogger(__name__)

RESYNC = events.encode(events.Resync())
# A batch as one command: redis-py packs and parses one command instead of one per message.
_PUBLISH_ALL = "for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end"
_BACKOFF_START, _BACKOFF_MAX = 0.1, 5.0
_CONFIRM_TIMEOUT = 5.0


class _ReconnectingBackend(BroadcastBackend):
    """Shared bookkeeping: wanted channels, the inbound queue, health and backoff."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self.healthy = False

    async def connect(self) -> None:
        """Start the link; give it a moment so the first subscribers need no resync."""
        self._runner = asyncio.create_task(self._run_forever())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), 3.0)

    async def disconnect(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _run_forever(self) -> None:
        delay = _BACKOFF_START
        reconnecting = False
        while True:
            try:
                await self._session(reconnecting)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("broadcast backend lost (%s); retrying in %.1fs", error, delay)
            self.healthy = False
            self._up.clear()
            reconnecting = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    def _mark_up(self, reconnecting: bool, subscribed: set[str]) -> set[str]:
        """Flag the link healthy; return channels wanted meanwhile that still need SUBSCRIBE.

        After a reconnect every channel may have missed messages, and a channel
        added while we were connecting may have read the log too early: both
        get a ``Resync`` so their subscribers re-read the log.
        """
        self.healthy = True
        self._up.set()
        late = self._channels - subscribed
        stale = self._channels if reconnecting else late
        if reconnecting:
            log.info("broadcast backend reconnected; resyncing %d channels", len(stale))
        for channel in stale:
            self._queue.put_nowait(Event(channel=channel, message=RESYNC))
        return late

    async def _session(self, reconnecting: bool) -> None:
        """Connect, subscribe to every wanted channel, then deliver until the link drops."""
        raise NotImplementedError


class RedisBackend(_ReconnectingBackend):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        # No client-side retries: a failed publish is repaired by a Resync instead
        # of holding the mutation that triggered it.
        self._publisher = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        self._publish_all = self._publisher.register_script(_PUBLISH_ALL)
        self._pubsub: Any = None
        self._confirmations: dict[str, asyncio.Future[None]] = {}

    async def disconnect(self) -> None:
        await super().disconnect()
        await self._publisher.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None:
            return  # subscribed (and resynced) when the link comes back
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmed
        try:
            await pubsub.subscribe(channel)
            await asyncio.wait_for(confirmed, _CONFIRM_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("SUBSCRIBE %s not confirmed (%s); resync follows reconnect", channel, error)
        finally:
            self._confirmations.pop(channel, None)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        """One round trip and one command for the lot: a script that publishes each in order
        (EVALSHA; redis-py loads it again after a broker restart)."""
        if len(messages) == 1:
            await self._publisher.publish(*messages[0])
            return
        await self._publish_all(args=[part for message in messages for part in message])

    async def ping(self) -> bool:
        try:
            return bool(await self._publisher.ping())  # type: ignore[misc]  # redis-py types sync|async
        except (RedisError, OSError):
            return False

    async def _session(self, reconnecting: bool) -> None:
        # redis-py would reconnect quietly inside listen(); we want to know, to resync.
        client = aioredis.Redis.from_url(
            self._url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        pubsub: Any = client.pubsub()
        try:
            # A keep-alive channel means the connection always has a subscription,
            # so redis-py keeps reading even while no subscriber is local.
            wanted = set(self._channels)
            await pubsub.subscribe("taskbell.keepalive", *wanted)
            self._pubsub = pubsub
            if late := self._mark_up(reconnecting, wanted):
                await pubsub.subscribe(*late)
            async for message in pubsub.listen():
                self._on_message(message)
            raise ConnectionError("pub/sub stream ended")
        finally:
            self._pubsub = None
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()

    def _on_message(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        if message["type"] == "subscribe":
            confirmed = self._confirmations.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
        elif message["type"] == "message" and channel in self._channels:
            self._queue.put_nowait(Event(channel=channel, message=message["data"].decode()))


class PostgresBackend(_ReconnectingBackend):
    """LISTEN/NOTIFY; payloads stay small (see ``taskbell.events``)."""

    def __init__(self, url: str) -> None:
        super().__init__(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        self._listener: asyncpg.Connection | None = None
        self._publisher: asyncpg.Pool | None = None
        self._lost = asyncio.Event()
        # One connection runs one statement at a time: LISTENs, UNLISTENs and
        # probes that overlapped would fail ("another operation is in progress").
        self._one_at_a_time = asyncio.Lock()

    async def disconnect(self) -> None:
        await super().disconnect()
        if self._publisher is not None:
            await self._publisher.close()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        async with self._one_at_a_time:
            if self._listener is not None:
                with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                    await self._listener.add_listener(channel, self._on_notify)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        async with self._one_at_a_time:
            if self._listener is not None:
                with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                    await self._listener.remove_listener(channel, self._on_notify)

    async def publish(self, channel: str, message: Any) -> None:
        await self.publish_many([(channel, message)])

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        if self._publisher is None:
            self._publisher = await asyncpg.create_pool(self._url, min_size=1, max_size=4)
        await self._publisher.executemany("SELECT pg_notify($1, $2)", messages)

    async def ping(self) -> bool:
        return self.healthy

    async def _session(self, reconnecting: bool) -> None:
        connection = await asyncpg.connect(self._url, timeout=2)
        self._lost.clear()
        connection.add_termination_listener(lambda _conn: self._lost.set())
        try:
            async with self._one_at_a_time:
                wanted = set(self._channels)
                for channel in wanted:
                    await connection.add_listener(channel, self._on_notify)
                self._listener = connection
                for channel in self._mark_up(reconnecting, wanted):
                    await connection.add_listener(channel, self._on_notify)
            while not self._lost.is_set():
                # A dead TCP peer is only noticed when we talk; probe now and then.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lost.wait(), 2.0)
                if not self._lost.is_set():
                    async with self._one_at_a_time:
                        await connection.execute("SELECT 1", timeout=2)
            raise ConnectionError("listen connection closed")
        finally:
            self._listener = None
            with contextlib.suppress(Exception):
                await connection.close(timeout=1)

    def _on_notify(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._queue.put_nowait(Event(channel=channel, message=payload))


class LocalBackend(MemoryBackend):
    """broadcaster's in-process backend, with the health probe the others have."""

    healthy = True

    async def ping(self) -> bool:
        return True

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        for channel, message in messages:
            await self.publish(channel, message)


Backend = RedisBackend | PostgresBackend | LocalBackend


def backend_for(url: str) -> Backend:
    """Pick the backend for ``TASKBELL_BROADCAST_URL``."""
    scheme = url.split(":", 1)[0]
    if scheme in {"redis", "rediss"}:
        return RedisBackend(url)
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        return PostgresBackend(url)
    if scheme == "memory":
        return LocalBackend(url)
    raise ValueError(f"unsupported broadcast URL scheme {scheme!r}")
