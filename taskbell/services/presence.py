"""Presence use cases: who may see a project's presence, mark editing, and the diff feed.

The tracker (``realtime.presence``) holds the state; this module decides who
may see or change it and gives the realtime core the ``presenceChanged`` feed.
Diffs are not durable: there is no log and no resume; every subscription (and
every reconnect) starts from the current state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncGenerator, Callable, Collection, Sequence
from typing import Any

from sqlalchemy import select

from taskbell import events, models
from taskbell.cursors import Positions, encode_cursor
from taskbell.db import Sessions
from taskbell.errors import DomainError, Forbidden, NotFound
from taskbell.realtime.presence import PresenceChange
from taskbell.realtime.presence_view import Person
from taskbell.runtime import Runtime
from taskbell.services import access, live
from taskbell.services.users import Identity

PRESENCE = "p1"  # the cursor kind of presence positions (process-local, never resumed)


async def members_of(sessions: Sessions, project_ids: Collection[int]) -> dict[int, list[Person]]:
    """Each project's members with their names, in one query (the tracker caches them)."""
    async with sessions() as session:
        rows = await session.execute(
            select(
                models.ProjectMember.project_id, models.User.id, models.User.name, models.User.email
            )
            .join(models.User, models.User.id == models.ProjectMember.user_id)
            .where(models.ProjectMember.project_id.in_(list(project_ids)))
        )
        found: dict[int, list[Person]] = defaultdict(list)
        for project_id, user_id, name, email in rows:
            found[project_id].append(Person(user_id, name, email))
    return dict(found)


async def authorize(rt: Runtime, viewer: Identity, project_ids: list[int] | None) -> list[int]:
    """The projects a ``presenceChanged`` covers; FORBIDDEN for a foreign one."""
    return await access.subscription_scope(rt, viewer.user.id, project_ids)


async def set_editing(rt: Runtime, viewer: Identity, task_id: int, editing: bool) -> bool:
    """Mark (or unmark) the caller as editing a task of one of their projects."""
    async with rt.sessions() as session:
        task = await session.get(models.Task, task_id)
        if task is None:
            raise NotFound("Task not found.")
        if not await access.is_member(session, viewer.user.id, task.project_id):
            raise Forbidden(access.NOT_A_MEMBER)
        project_id = task.project_id
    rt.presence.set_editing(viewer.user.id, task_id, project_id, editing)
    return True


class PresenceFeed:
    """``presenceChanged``'s feed: no log; the current state stands in for one."""

    cursor_kind = PRESENCE

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def follow(
        self,
        keys: Sequence[int],
        listening: Callable[[], None] | None = None,
        snapshot: bool = False,
    ) -> AsyncGenerator[tuple[PresenceChange, str], None]:
        presence = self._rt.presence
        async with presence.watch(keys) as listener:
            positions = presence.heads(keys)
            if listening is not None:
                listening()
            if snapshot:
                for key in keys:
                    yield presence.snapshot(key), encode_cursor(positions, PRESENCE)
            while True:
                change = await listener.get()
                if change.position <= positions[change.project_id]:
                    continue
                positions[change.project_id] = change.position
                yield change, encode_cursor(positions, PRESENCE)

    def channels(self, keys: Collection[int]) -> list[str]:
        return []

    async def heads(self, keys: Collection[int]) -> Positions:
        return self._rt.presence.heads(keys)

    async def access_versions(self, keys: Collection[int]) -> dict[int, int]:
        return dict.fromkeys(keys, 0)

    async def read_after(self, positions: Positions, limit: int) -> list[PresenceChange]:
        """The current state of each project behind its head, as a diff from nobody."""
        presence = self._rt.presence
        heads = presence.heads(positions)
        return [presence.snapshot(pid) for pid, at in positions.items() if at < heads[pid]]

    def live_item(self, message: events.Message) -> Any:
        return None  # diffs never come from the broker; they are computed here

    def revocation(
        self, message: events.Message, identity: Identity, keys: Collection[int]
    ) -> DomainError | None:
        return live.TaskEvents(self._rt).revocation(message, identity, keys)

    async def access_errors(
        self, identities: Collection[Identity], keys: Collection[int]
    ) -> dict[int, DomainError]:
        return await live.TaskEvents(self._rt).access_errors(identities, keys)
