"""Who is connected and subscribed to this process: the ``/ws/stats`` figures."""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StatsSnapshot:
    active_connections: int
    subscribed_users: int
    projects_with_subscribers: int
    total_subscriptions: int


@dataclass
class Presence:
    """Counts sockets and live subscriptions; per process, not cluster-wide."""

    connections: int = 0
    _subscriptions: dict[int, tuple[int, frozenset[int]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def connection_opened(self) -> None:
        self.connections += 1

    def connection_closed(self) -> None:
        self.connections -= 1

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
