"""The realtime fan-out: one broadcaster subscription per channel per process.

Each channel has a single owner task that holds the broadcaster subscription,
decodes every message once and hands it to the local subscribers' bounded
inboxes. This sidesteps broadcaster's subscribe race (concurrent first
subscribers overwrite each other) and its unbounded per-subscriber queues.
This module, ``broker`` and ``broadcaster_compat`` are the only importers of
broadcaster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from broadcaster import Broadcast

from taskbell import events
from taskbell.metrics import Metrics
from taskbell.realtime.broadcaster_compat import Unsubscribed
from taskbell.realtime.broker import backend_for

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT = 2.0  # a mutation never waits longer than this for the broker
REPAIR_INTERVAL = 1.0


class Inbox:
    """A subscriber's bounded buffer of messages.

    When it fills, the backlog is dropped and replaced by one ``Resync``: the
    subscriber re-reads the durable log instead, so memory stays bounded and
    nothing is lost.
    """

    def __init__(self, size: int) -> None:
        self._items: deque[events.Message] = deque()
        self._size = size
        self._ready = asyncio.Event()
        self._failure: BaseException | None = None

    def offer(self, message: events.Message) -> None:
        if len(self._items) >= self._size:
            self._items.clear()
            message = events.Resync()
        self._items.append(message)
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    def fail(self, error: BaseException) -> None:
        self._failure = error
        self._ready.set()

    async def get(self) -> events.Message:
        while not self._items and self._failure is None:
            self._ready.clear()
            await self._ready.wait()
        if self._failure is not None:
            raise self._failure
        return self._items.popleft()


class Sink(Protocol):
    """Whatever takes a channel's messages: an ``Inbox``, or a synchronous watcher."""

    def offer(self, message: events.Message) -> None: ...

    def fail(self, error: BaseException) -> None: ...


AnySink = TypeVar("AnySink", bound=Sink)


@dataclass
class _Channel:
    inboxes: set[Sink] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    owner: asyncio.Task[None] | None = None


class Hub:
    """Publishes messages and fans received ones out to local inboxes."""

    def __init__(self, url: str, metrics: Metrics) -> None:
        self._backend = backend_for(url)
        self._broadcast = Broadcast(backend=self._backend)
        self._metrics = metrics
        self._channels: dict[str, _Channel] = {}
        self._closing: dict[str, asyncio.Task[None]] = {}
        # Channels whose last publish failed: they get a Resync once the broker is back.
        self._unsynced: set[str] = set()
        self._repairer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._broadcast.connect()
        self._repairer = asyncio.create_task(self._repair_forever())

    async def stop(self) -> None:
        owners = [c.owner for c in self._channels.values() if c.owner is not None]
        owners += self._closing.values()
        if self._repairer is not None:
            owners.append(self._repairer)
        for owner in owners:
            owner.cancel()
        await asyncio.gather(*owners, return_exceptions=True)
        await self._broadcast.disconnect()

    async def ping(self) -> bool:
        return bool(await self._backend.ping())

    def connected(self) -> bool:
        """Whether the link to the broker is up now (no round trip)."""
        return bool(self._backend.healthy)

    async def publish(self, channel: str, message: events.Message) -> bool:
        """Publish one message after commit (see ``publish_many``)."""
        return await self.publish_many([(channel, message)])

    async def publish_many(self, messages: Sequence[tuple[str, events.Message]]) -> bool:
        """Publish after commit, in order and in one go (one pipeline on Redis).

        A failure is logged and counted, never raised. The database is the
        source of truth: every channel of the batch is marked, and once the
        broker answers again a ``Resync`` on it makes every subscriber re-read
        the log, in every process.
        """
        encoded = [(channel, events.encode(message)) for channel, message in messages]
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await self._backend.publish_many(encoded)
        except Exception as error:
            self._unsynced.update(channel for channel, _ in encoded)
            self._metrics.publish_failures.inc(len(encoded))
            channels = ", ".join(sorted({channel for channel, _ in encoded}))
            log.warning("publish to %s failed (%r); it will be resynced", channels, error)
            return False
        self._metrics.events_published.inc(len(encoded))
        return True

    async def _repair_forever(self) -> None:
        while True:
            await asyncio.sleep(REPAIR_INTERVAL)
            for channel in list(self._unsynced):
                self._unsynced.discard(channel)
                if not await self.publish(channel, events.Resync()):
                    break  # still down; try again next round

    @contextlib.asynccontextmanager
    async def listen(self, channels: Collection[str], buffer: int) -> AsyncIterator[Inbox]:
        """Yield an inbox once every channel is subscribed at the backend."""
        async with self.watch(channels, Inbox(buffer)) as inbox:
            yield inbox

    @contextlib.asynccontextmanager
    async def watch(self, channels: Collection[str], sink: AnySink) -> AsyncIterator[AnySink]:
        """Hand the channels' messages to ``sink`` (called in the owner's task, so it must
        not block) once every channel is subscribed at the backend."""
        joined = [self._join(name, sink) for name in channels]
        try:
            await asyncio.gather(*(channel.ready.wait() for channel in joined))
            yield sink
        finally:
            for name in channels:
                self._leave(name, sink)

    def _join(self, name: str, inbox: Sink) -> _Channel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = _Channel()
            channel.owner = asyncio.create_task(self._own(name, channel))
        channel.inboxes.add(inbox)
        return channel

    def _leave(self, name: str, inbox: Sink) -> None:
        channel = self._channels.get(name)
        if channel is None:
            return
        channel.inboxes.discard(inbox)
        if not channel.inboxes and channel.owner is not None:
            del self._channels[name]
            channel.owner.cancel()
            self._closing[name] = channel.owner

    async def _own(self, name: str, channel: _Channel) -> None:
        """Hold the channel's one broadcaster subscription and dispatch locally."""
        previous = self._closing.pop(name, None)
        if previous is not None:
            # Let the old owner finish its UNSUBSCRIBE before we SUBSCRIBE again.
            await asyncio.gather(previous, return_exceptions=True)
        try:
            async with self._broadcast.subscribe(name) as subscriber:
                channel.ready.set()
                while True:
                    event = await subscriber.get()
                    try:
                        message = events.decode(event.message)
                    except ValueError:
                        log.warning("dropped an undecodable message on %s", name)
                        continue
                    for inbox in list(channel.inboxes):
                        inbox.offer(message)
        except (asyncio.CancelledError, Unsubscribed):
            raise
        except Exception as error:
            log.exception("fan-out for %s failed", name)
            for inbox in list(channel.inboxes):
                inbox.fail(error)
            channel.ready.set()
        finally:
            if self._closing.get(name) is asyncio.current_task():
                del self._closing[name]
