"""The cluster's presence as one process sees it: every process's record, pure data.

Each server process owns one record (users online on it, its editors) and sends
it whole, in parts small enough for PostgreSQL's NOTIFY, on every change
(coalesced) and every heartbeat. A record replaces the previous one from that
process; one not refreshed in time is dropped, so a process that died takes its
members with it. No clocks are compared across processes: lapses travel as
"milliseconds left" and are turned into local monotonic deadlines on receipt.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from taskbell import events

# Well under PostgreSQL's 8,000-byte NOTIFY payload, with the envelope around it.
PART_BYTES = 6000


@dataclass(frozen=True, slots=True)
class Person:
    """A member as presence shows them (names are cached, so a diff costs no query)."""

    id: int
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Editing:
    """``user_id`` edits ``task_id`` (of ``project_id``) since ``since``, until ``expires``."""

    user_id: int
    task_id: int
    project_id: int
    since: datetime
    expires: float  # time.monotonic() of this process

    @property
    def key(self) -> tuple[int, int]:
        return (self.user_id, self.task_id)

    def wire(self, now: float) -> list[int]:
        since_ms = int(self.since.timestamp() * 1000)
        left_ms = max(0, int((self.expires - now) * 1000))
        return [self.user_id, self.task_id, self.project_id, since_ms, left_ms]

    @classmethod
    def from_wire(cls, entry: list[int], now: float) -> Editing:
        user_id, task_id, project_id, since_ms, left_ms = entry
        since = datetime.fromtimestamp(since_ms / 1000, UTC)
        return cls(user_id, task_id, project_id, since, now + left_ms / 1000)


@dataclass
class Record:
    """One process's presence: who is online on it and who edits what."""

    online: frozenset[int] = frozenset()
    editors: tuple[Editing, ...] = ()
    drop_at: float = 0.0
    leaving: frozenset[int] = frozenset()  # online, but only for the grace
    closing: bool = False  # the process said goodbye: all of its members are in the grace


def parts(
    process: str,
    seq: int,
    online: Iterable[int],
    editors: Iterable[Editing],
    now: float,
    closing: bool = False,
    hello: bool = False,
    leaving: Iterable[int] = (),
) -> list[events.PresenceState]:
    """A record as messages, each below ``PART_BYTES`` when encoded."""
    chunks: list[tuple[list[int], list[list[int]], list[int]]] = [([], [], [])]
    size = 0
    items: list[tuple[int, int | list[int]]] = [(0, u) for u in sorted(online)]
    items += [(1, e.wire(now)) for e in editors]
    items += [(2, u) for u in sorted(leaving)]
    for kind, item in items:
        cost = (len(json.dumps(item)) if kind == 1 else len(str(item))) + 1
        if size + cost > PART_BYTES:
            chunks.append(([], [], []))
            size = 0
        size += cost
        users, edits, gone = chunks[-1]
        if isinstance(item, list):
            edits.append(item)
        elif kind == 0:
            users.append(item)
        else:
            gone.append(item)
    return [
        events.PresenceState(process, seq, n, len(chunks), users, edits, closing, hello, gone)
        for n, (users, edits, gone) in enumerate(chunks)
    ]


@dataclass
class ClusterView:
    """The other processes' records, assembled from their parts."""

    dead_after: float
    grace: float
    records: dict[str, Record] = field(default_factory=dict)
    _partial: dict[str, tuple[int, list[events.PresenceState]]] = field(default_factory=dict)

    def offer(self, state: events.PresenceState, now: float) -> bool:
        """Take one part; True when it completed a record (the view may have changed)."""
        seq, got = self._partial.get(state.process, (state.seq, []))
        if seq != state.seq:
            got = []  # a newer record started before the last one completed
        got.append(state)
        if len(got) < state.parts:
            self._partial[state.process] = (state.seq, got)
            return False
        self._partial.pop(state.process, None)
        if state.closing:
            # Its members stay for the grace, as if their connections had just closed.
            record = self.records.get(state.process, Record())
            record.drop_at = min(record.drop_at or now + self.grace, now + self.grace)
            record.closing = True
            self.records[state.process] = record
            return True
        online = frozenset(u for part in got for u in part.online)
        editors = tuple(Editing.from_wire(e, now) for part in got for e in part.editors)
        leaving = frozenset(u for part in got for u in part.leaving)
        self.records[state.process] = Record(online, editors, now + self.dead_after, leaving)
        return True

    def prune(self, now: float) -> bool:
        """Drop silent processes and lapsed editors; True when anything went."""
        changed = False
        for process, record in list(self.records.items()):
            if record.drop_at <= now:
                del self.records[process]
                changed = True
                continue
            live = tuple(e for e in record.editors if e.expires > now)
            if len(live) != len(record.editors):
                record.editors = live
                changed = True
        return changed

    def online(self) -> set[int]:
        return set().union(*(r.online for r in self.records.values()))

    def connected(self, user_id: int) -> bool:
        """Whether another process holds an open connection of the user (not just the grace)."""
        return any(
            user_id in r.online and user_id not in r.leaving and not r.closing
            for r in self.records.values()
        )

    def editors(self) -> Iterator[Editing]:
        for record in self.records.values():
            yield from record.editors
