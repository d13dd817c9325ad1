"""Who is connected and subscribed to this process: the ``/ws/stats`` figures."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
Closer = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class StatsSnapshot:
    active_connections: int
    subscribed_users: int
    projects_with_subscribers: int
    total_subscriptions: int


@dataclass
class Stats:
    """Counts sockets and live subscriptions; per process, not cluster-wide."""

    _sockets: dict[object, Closer] = field(default_factory=dict)
    _subscriptions: dict[int, tuple[int, frozenset[int]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    # Whose each authenticated connection is (Web Push skips members connected here).
    _members: dict[object, int] = field(default_factory=dict)

    @property
    def connections(self) -> int:
        return len(self._sockets)

    def connection_opened(self, socket: object, close: Closer) -> None:
        self._sockets[socket] = close

    def connection_closed(self, socket: object) -> None:
        self._sockets.pop(socket, None)
        self._members.pop(socket, None)

    def connection_authenticated(self, socket: object, user_id: int) -> None:
        """The connection now serves ``user_id`` (after connection_ack, or a stream's start)."""
        if socket in self._sockets:
            self._members[socket] = user_id

    def connected_users(self) -> set[int]:
        """Members with at least one authenticated connection to this process."""
        return set(self._members.values())

    async def close_all(self) -> None:
        """Say goodbye to every socket (shutdown), so clients reconnect elsewhere."""
        closers = [close() for close in self._sockets.values()]
        if closers:
            log.info("closing %d WebSockets for shutdown", len(closers))
            await asyncio.gather(*closers, return_exceptions=True)

    def subscription_started(self, user_id: int, project_ids: Collection[int]) -> int:
        key = next(self._ids)
        self._subscriptions[key] = (user_id, frozenset(project_ids))
        return key

    def subscription_ended(self, key: int) -> None:
        self._subscriptions.pop(key, None)

    def snapshot(self) -> StatsSnapshot:
        users = {user for user, _ in self._subscriptions.values()}
        projects = set().union(*(p for _, p in self._subscriptions.values()))
        return StatsSnapshot(
            active_connections=self.connections,
            subscribed_users=len(users),
            projects_with_subscribers=len(projects),
            total_subscriptions=len(self._subscriptions),
        )
