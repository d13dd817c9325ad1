"""Presence: who holds a live connection on any process, and who edits which task.

The transports report each authenticated connection once it listens
(``connection_opened``/``connection_closed``, beside the stats). Several
connections of one user are one member; the last one closing starts the grace,
and a reconnect within it changes nothing. This process's record (users online
here, editors set here) goes to the other processes over the broker's presence
channel: coalesced, at most once per interval, and whole on every heartbeat,
one publish round trip each, never one per connection. Every process keeps the
whole cluster's view and computes per-project diffs itself, at most one per
project per interval, for the projects someone here watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from taskbell import events
from taskbell.config import Settings
from taskbell.realtime.hub import Hub
from taskbell.realtime.presence_view import ClusterView, Editing, Person, parts

if TYPE_CHECKING:  # services import the runtime, which holds this tracker
    from taskbell.services.users import Identity

log = logging.getLogger(__name__)
MembersOf = Callable[[Collection[int]], Awaitable[dict[int, list[Person]]]]
# A process whose record is not refreshed for this many heartbeats is taken for dead.
HEARTBEATS_BEFORE_DEAD = 4
STOP_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """One project's diff; from nobody (``left`` empty) when it is a current state."""

    project_id: int
    position: int
    joined: tuple[Person, ...] = ()
    left: tuple[Person, ...] = ()
    editing_started: tuple[Editing, ...] = ()
    editing_stopped: tuple[Editing, ...] = ()
    # Everyone named above, editors included, by id.
    people: dict[int, Person] = field(default_factory=dict)

    @property
    def stream_key(self) -> int:
        return self.project_id

    @property
    def access_version(self) -> int:
        return 0


class Listener:
    """A bounded queue of diffs for one stream; overflowing ends it (it re-subscribes)."""

    def __init__(self, size: int) -> None:
        self._items: deque[PresenceChange] = deque()
        self._size = size
        self._ready = asyncio.Event()
        self._overflowed = False

    def offer(self, change: PresenceChange) -> None:
        if len(self._items) >= self._size:
            self._overflowed = True
        else:
            self._items.append(change)
        self._ready.set()

    async def get(self) -> PresenceChange:
        while not self._items and not self._overflowed:
            self._ready.clear()
            await self._ready.wait()
        if self._overflowed:
            raise OverflowError("presence diffs were not read in time")
        return self._items.popleft()


@dataclass(eq=False)
class _Project:
    """A watched project: its members and the state its last diff showed."""

    members: set[int]
    listeners: set[Listener] = field(default_factory=set)
    position: int = 1
    online: frozenset[int] = frozenset()
    editors: dict[tuple[int, int], Editing] = field(default_factory=dict)


class Presence:
    """This process's presence tracker (``Runtime.presence``)."""

    def __init__(self, settings: Settings, hub: Hub, prefix: str, members_of: MembersOf) -> None:
        self.process_id = uuid.uuid4().hex[:12]
        self._hub, self._members_of = hub, members_of
        self._channel = events.presence_channel(prefix)
        self._shared = not settings.broadcast_url.startswith("memory:")
        self._interval = settings.presence_interval_seconds
        self._grace = settings.presence_grace_seconds
        self._ttl = settings.editing_ttl_seconds
        self._heartbeat = settings.presence_heartbeat_seconds
        self._buffer = settings.subscription_buffer
        self._sockets: dict[object, int] = {}
        self._counts: Counter[int] = Counter()
        self._leaving: dict[int, asyncio.TimerHandle] = {}
        self._here: set[int] = set()  # online on this process (connected, or in the grace)
        self._editing: dict[tuple[int, int], Editing] = {}  # set on this process
        self._view = ClusterView(self._heartbeat * HEARTBEATS_BEFORE_DEAD, self._grace)
        self._projects: dict[int, _Project] = {}
        self._people: dict[int, Person] = {}
        self._online_before: set[int] = set()
        self._seq = 0
        self._flush_due: float | None = None
        self._diff_due: float | None = None
        self._last_flush = -math.inf
        self._next_heartbeat = 0.0
        self._hello = True
        self._lost = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    # -- the transports' side ------------------------------------------------------------

    def connection_opened(self, socket: object, identity: Identity | None) -> None:
        """An authenticated connection listens: its user is online here."""
        if identity is None or socket in self._sockets:
            return
        user_id = identity.user.id
        self._sockets[socket] = user_id
        self._counts[user_id] += 1
        leaving = self._leaving.pop(user_id, None)
        if leaving is not None:
            leaving.cancel()  # back within the grace: nothing changed
        elif user_id not in self._here:
            self._here.add(user_id)
            self._changed()

    def connection_closed(self, socket: object) -> None:
        """The last connection of a user closing starts the grace (idempotent)."""
        user_id = self._sockets.pop(socket, None)
        if user_id is None:
            return
        self._counts[user_id] -= 1
        if self._counts[user_id] <= 0:
            del self._counts[user_id]
            self._flush_soon()  # the others learn that only the grace keeps them online
            loop = asyncio.get_running_loop()
            self._leaving[user_id] = loop.call_later(self._grace, self._leave, user_id)

    def connected_here(self, user_id: int) -> bool:
        """Whether the user holds an open connection to this process (the grace is not one)."""
        return user_id in self._counts

    def connected(self, user_id: int) -> bool:
        """Whether the user holds an open connection on any process, as of the last records
        (Web Push goes to members without one; the grace is not one)."""
        return user_id in self._counts or self._view.connected(user_id)

    def _leave(self, user_id: int) -> None:
        self._leaving.pop(user_id, None)
        self._here.discard(user_id)
        self._changed()

    # -- editing and queries -------------------------------------------------------------

    def set_editing(self, user_id: int, task_id: int, project_id: int, editing: bool) -> None:
        """Start or renew (``True``) or end (``False``) an editing mark (services authorize)."""
        key = (user_id, task_id)
        if not editing:
            if self._editing.pop(key, None) is not None:
                self._changed()
            return
        previous = self._editing.get(key)
        since = previous.since if previous is not None else datetime.now(UTC)
        expires = time.monotonic() + self._ttl
        self._editing[key] = Editing(user_id, task_id, project_id, since, expires)
        if previous is None:
            self._changed()
        else:
            self._flush_soon()  # the renewal must reach the others before it lapses there

    def online_users(self) -> set[int]:
        """Everyone online now, on any process."""
        return self._here | self._view.online()

    def editors_now(self, online: Collection[int] | None = None) -> dict[tuple[int, int], Editing]:
        """Every editing mark that has not lapsed, of users online now."""
        now = time.monotonic()
        online = self.online_users() if online is None else online
        found: dict[tuple[int, int], Editing] = {}
        for mark in [*self._view.editors(), *self._editing.values()]:
            if mark.expires > now and mark.user_id in online:
                earlier = found.get(mark.key)
                if earlier is None or earlier.since > mark.since:
                    found[mark.key] = mark
        return found

    # -- streams of diffs ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def watch(self, project_ids: Collection[int]) -> AsyncIterator[Listener]:
        """Diffs of these projects, from now on, while the context lasts."""
        listener = Listener(self._buffer)
        missing = [pid for pid in project_ids if pid not in self._projects]
        if missing:
            await self._load(missing)
        for pid in project_ids:
            self._projects[pid].listeners.add(listener)
        try:
            yield listener
        finally:
            for pid in project_ids:
                project = self._projects.get(pid)
                if project is not None:
                    project.listeners.discard(listener)
                    if not project.listeners:
                        del self._projects[pid]

    def heads(self, project_ids: Collection[int]) -> dict[int, int]:
        """The position of each watched project's last diff."""
        return {pid: self._projects[pid].position for pid in project_ids}

    def snapshot(self, project_id: int) -> PresenceChange:
        """A watched project's state as its last diff left it, as a diff from nobody."""
        project = self._projects[project_id]
        joined = tuple(self._person(u) for u in sorted(project.online))
        started = tuple(sorted(project.editors.values(), key=lambda e: e.since))
        people = self._people_of(project.online, started)
        return PresenceChange(project_id, project.position, joined, (), started, (), people)

    async def _load(self, project_ids: list[int]) -> None:
        members = await self._members_of(project_ids)
        online = self.online_users()
        editors = self.editors_now(online)
        for pid in project_ids:
            people = members.get(pid, [])
            self._people.update((p.id, p) for p in people)
            ids = {p.id for p in people}
            project = _Project(ids, online=frozenset(ids & online))
            project.editors = {k: e for k, e in editors.items() if _shows(e, pid, ids)}
            self._projects.setdefault(pid, project)

    def _person(self, user_id: int) -> Person:
        return self._people.get(user_id) or Person(user_id, "", "")

    def _people_of(self, users: Collection[int], *marks: Collection[Editing]) -> dict[int, Person]:
        ids = set(users).union(*({m.user_id for m in group} for group in marks))
        return {uid: self._person(uid) for uid in ids}

    # -- running -------------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run_forever())

    async def stop(self) -> None:
        """Stop ticking; tell the others this process is going (its members get the grace)."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for handle in self._leaving.values():
            handle.cancel()
        if self._shared:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self._publish(time.monotonic(), closing=True)

    async def _run_forever(self) -> None:
        while True:
            try:
                if self._shared:
                    self._lost.clear()
                    async with self._hub.watch([self._channel], self):
                        await self._tick_forever()
                else:
                    await self._tick_forever()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("presence tick failed; starting again")
            await asyncio.sleep(self._interval)

    async def _tick_forever(self) -> None:
        while not self._lost.is_set():
            await self._tick(time.monotonic())
            await asyncio.sleep(self._interval / 4)

    async def _tick(self, now: float) -> None:
        lapsed = [key for key, mark in self._editing.items() if mark.expires <= now]
        for key in lapsed:
            del self._editing[key]
        if lapsed:
            self._changed()
        if self._view.prune(now):
            self._diff_soon(now)
        heartbeat = now >= self._next_heartbeat
        if self._shared and (heartbeat or (self._flush_due is not None and now >= self._flush_due)):
            await self._publish(now)
        if heartbeat:
            self._next_heartbeat = now + self._heartbeat
            await self._refresh_members()
        if self._diff_due is not None and now >= self._diff_due:
            self._diff_due = None
            self._diff_pass(now)

    # -- the broker's side ---------------------------------------------------------------

    def offer(self, message: events.Message) -> None:
        """A message on the presence channel (called by the hub; never blocks)."""
        now = time.monotonic()
        if isinstance(message, events.Resync):
            self._flush_soon()  # our last record may have been lost
        elif isinstance(message, events.PresenceState) and message.process != self.process_id:
            if message.hello:
                self._flush_soon()
            if self._view.offer(message, now):
                self._diff_soon(now)

    def fail(self, error: BaseException) -> None:
        log.warning("presence channel failed (%r); listening again", error)
        self._lost.set()

    async def _publish(self, now: float, closing: bool = False) -> None:
        self._seq += 1
        editors, leaving = self._editing.values(), self._leaving.keys()
        messages = parts(
            self.process_id, self._seq, self._here, editors, now, closing, self._hello, leaving
        )
        self._last_flush, self._flush_due = now, None
        if await self._hub.publish_many([(self._channel, m) for m in messages]):
            self._hello = False

    async def _refresh_members(self) -> None:
        """Memberships change rarely: watched projects re-read theirs every heartbeat."""
        if not self._projects:
            return
        try:
            members = await self._members_of(list(self._projects))
        except Exception as error:
            log.warning("presence could not re-read memberships (%r)", error)
            return
        for pid, people in members.items():
            self._people.update((p.id, p) for p in people)
            project = self._projects.get(pid)
            if project is not None and {p.id for p in people} != project.members:
                project.members = {p.id for p in people}
                self._diff_soon(time.monotonic())

    # -- coalescing and diffs ------------------------------------------------------------

    def _changed(self) -> None:
        """This process's record changed: send it soon, and diff soon."""
        self._flush_soon()
        self._diff_soon(time.monotonic())

    def _flush_soon(self) -> None:
        if self._flush_due is None:
            now = time.monotonic()
            # Half an interval gathers a burst; at most one record per interval.
            self._flush_due = max(now + self._interval / 2, self._last_flush + self._interval)

    def _diff_soon(self, now: float) -> None:
        if self._diff_due is None:
            self._diff_due = now + self._interval

    def _diff_pass(self, now: float) -> None:
        """One diff per watched project whose members' presence changed."""
        online = self.online_users()
        gone = self._online_before - online
        self._online_before = online
        ended = [k for k in self._editing if k[0] in gone]
        for key in ended:  # editing ends with the member's last connection, cluster-wide
            del self._editing[key]
        if ended:
            self._flush_soon()
        editors = self.editors_now(online)
        for pid, project in self._projects.items():
            shown = frozenset(project.members & online)
            marks = {k: e for k, e in editors.items() if _shows(e, pid, project.members)}
            joined, left = shown - project.online, project.online - shown
            started = [e for k, e in marks.items() if k not in project.editors]
            stopped = [e for k, e in project.editors.items() if k not in marks]
            if not (joined or left or started or stopped):
                continue
            project.position += 1
            project.online, project.editors = shown, marks
            change = PresenceChange(
                pid,
                project.position,
                tuple(self._person(u) for u in sorted(joined)),
                tuple(self._person(u) for u in sorted(left)),
                tuple(started),
                tuple(stopped),
                self._people_of(joined | left, started, stopped),
            )
            for listener in list(project.listeners):
                listener.offer(change)


def _shows(mark: Editing, project_id: int, members: set[int]) -> bool:
    return mark.project_id == project_id and mark.user_id in members
