"""Ordered, gapless, deduplicated, access-checked streams, resumable from a cursor.

One function, ``ordered``, keeps every stream promise for every feed
(``taskStatusUpdated`` per project, ``notificationReceived`` per recipient).
The inbox is subscribed at the broker *before* the log is read, so everything
committed after the read is also in the inbox; live items at or below the
position already delivered are dropped, and one that skips ahead (a publish
lost in an outage, or an inbox that overflowed into a ``Resync``) makes it
re-read the log, which is the source of truth. Access is re-checked whenever
it may have changed: an item whose access version grew (someone left the
project), a gap, or a ``Resync``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from taskbell import events
from taskbell.cursors import Positions, encode_cursor
from taskbell.errors import BadUserInput, DomainError
from taskbell.runtime import Runtime
from taskbell.services.users import Identity


class Item(Protocol):
    """What a feed's log holds: a position in one keyed, ordered stream."""

    @property
    def stream_key(self) -> int: ...

    @property
    def position(self) -> int: ...

    @property
    def access_version(self) -> int: ...


ItemT = TypeVar("ItemT", bound=Item)
ItemT_co = TypeVar("ItemT_co", bound=Item, covariant=True)


class Source(Protocol[ItemT_co]):
    """A feed's durable log and access rules (implemented by ``services.live``)."""

    cursor_kind: str

    def channels(self, keys: Collection[int]) -> list[str]: ...

    async def heads(self, keys: Collection[int]) -> Positions: ...

    async def access_versions(self, keys: Collection[int]) -> dict[int, int]: ...

    async def read_after(self, positions: Positions, limit: int) -> Sequence[ItemT_co]: ...

    def live_item(self, message: events.Message) -> ItemT_co | None:
        """The message as one of this feed's items, or None when it is not one."""

    def revocation(
        self, message: events.Message, identity: Identity, keys: Collection[int]
    ) -> DomainError | None:
        """Why ``message`` (on the holder's user channel) ends their stream, if it does."""

    async def access_errors(
        self, identities: Collection[Identity], keys: Collection[int]
    ) -> dict[int, DomainError]:
        """By token id, the identities that may no longer follow ``keys``, and why."""


@runtime_checkable
class Ephemeral(Protocol):
    """A feed with no durable log (presence): it streams its live items itself.

    Its ``read_after`` answers with the current state (one item per key at its
    head), so a member's catch-up starts with that state and hands over to its
    group exactly as a resuming member does; there is nothing to resume from.
    """

    def follow(
        self,
        keys: Sequence[int],
        listening: Callable[[], None] | None = None,
        snapshot: bool = False,
    ) -> AsyncGenerator[tuple[Any, str], None]:
        """Live (item, cursor) pairs; with ``snapshot``, the current state first."""


class Audience(Protocol):
    """Whom a stream serves: where their revocations arrive, how access is re-checked."""

    def channels(self) -> list[str]:
        """Channels to hear besides the feed's own (the holder's user channel)."""

    def check(self, message: events.Message) -> None:
        """Raise to end the stream when ``message`` revokes the audience's access."""

    async def recheck(self) -> None:
        """Raise (or end the members who lost access) when access has changed."""


async def ordered(
    rt: Runtime,
    source: Source[ItemT],
    audience: Audience,
    keys: Sequence[int],
    resume_from: Positions | None,
    listening: Callable[[], None] | None = None,
) -> AsyncGenerator[tuple[ItemT, str], None]:
    """Yield (item, cursor) pairs for ``keys`` until the consumer stops or access ends."""
    kind = source.cursor_kind
    channels = source.channels(keys) + audience.channels()
    async with rt.hub.listen(channels, rt.settings.subscription_buffer) as inbox:
        positions = starting_positions(await source.heads(keys), resume_from)
        versions = await source.access_versions(keys)
        if listening is not None:
            listening()
        async for replayed in catch_up(rt, source, positions):
            yield replayed, encode_cursor(positions, kind)
        while True:
            message = await inbox.get()
            audience.check(message)
            live = source.live_item(message)
            if live is not None:
                head = positions.get(live.stream_key)
                if head is None or live.position <= head:
                    continue  # already delivered (replayed) or not ours
                if live.position == head + 1:
                    if live.access_version > versions.get(live.stream_key, 0):
                        await audience.recheck()
                        versions[live.stream_key] = live.access_version
                    positions[live.stream_key] = live.position
                    yield live, encode_cursor(positions, kind)
                    continue
            elif not isinstance(message, events.Resync):
                continue
            # A gap, or a Resync: access may have changed and the log has
            # everything we may have missed.
            await audience.recheck()
            async for replayed in catch_up(rt, source, positions):
                yield replayed, encode_cursor(positions, kind)


async def catch_up(
    rt: Runtime, source: Source[ItemT], positions: Positions
) -> AsyncIterator[ItemT]:
    """Replay the log past ``positions`` in batches, advancing them as it goes."""
    batch_size = rt.settings.replay_batch_size
    while True:
        batch = await source.read_after(positions, batch_size)
        for item in batch:
            positions[item.stream_key] = item.position
            rt.metrics.replayed.inc()
            yield item
        if len(batch) < batch_size:
            return


def starting_positions(current: Positions, resume_from: Positions | None) -> Positions:
    """Resume where the cursor says; keys it does not name start from now."""
    positions = dict(current)
    if resume_from is None:
        return positions
    for key, head in current.items():
        if key in resume_from:
            if resume_from[key] > head:
                raise BadUserInput("Cursor is ahead of the event log; it was not issued here.")
            positions[key] = resume_from[key]
    return positions


async def resume_positions(
    source: Source[Item], keys: Sequence[int], resume_from: Positions
) -> Positions:
    """Where a resuming subscription starts; refuses a cursor from elsewhere."""
    return starting_positions(await source.heads(keys), resume_from)
