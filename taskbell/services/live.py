"""Live subscriptions: replay from the log, then live messages, with no gap and no duplicate.

The inbox is subscribed at the broker *before* the log is read, so every event
committed after the read is also in the inbox; live messages at or below the
position already delivered are dropped, and a live message that skips ahead
(a publish lost in an outage, or a dropped backlog) triggers a re-read of the
log, which is the source of truth.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from taskbell import events, models
from taskbell.cursors import Positions, decode_cursor, encode_cursor
from taskbell.errors import BadUserInput
from taskbell.runtime import Runtime
from taskbell.services import access, log, notifications


async def task_status_stream(
    rt: Runtime, user_id: int, project_ids: list[int] | None, after: str | None
) -> AsyncGenerator[tuple[events.TaskStatusChanged, str], None]:
    """Validate and authorize now, so a refusal is a subscribe-time error; stream later."""
    resume_from = decode_cursor(after) if after is not None else None
    async with rt.sessions() as session:
        scope = await access.subscription_scope(session, user_id, project_ids)
        if resume_from is not None:
            _starting_positions(await log.heads(session, scope), resume_from)
    return _task_status_events(rt, user_id, scope, resume_from)


async def _task_status_events(
    rt: Runtime, user_id: int, scope: list[int], resume_from: Positions | None
) -> AsyncGenerator[tuple[events.TaskStatusChanged, str], None]:
    """Yield (event, cursor) pairs for the scope's projects, forever."""
    channels = [events.project_channel(rt.channel_prefix, pid) for pid in scope]
    presence_key = rt.presence.subscription_started(user_id, scope)
    try:
        async with rt.hub.listen(channels, rt.settings.subscription_buffer) as inbox:
            async with rt.sessions() as session:
                positions = _starting_positions(await log.heads(session, scope), resume_from)
            async for change in _catch_up(rt, positions):
                yield change, encode_cursor(positions)
            while True:
                message = await inbox.get()
                if isinstance(message, events.TaskStatusChanged):
                    head = positions.get(message.project_id)
                    if head is None or message.position <= head:
                        continue  # already delivered (replayed) or not ours
                    if message.position == head + 1:
                        positions[message.project_id] = message.position
                        rt.metrics.events_delivered.inc()
                        yield message, encode_cursor(positions)
                        continue
                # A gap, or a Resync: the log has everything we may have missed.
                async for change in _catch_up(rt, positions):
                    yield change, encode_cursor(positions)
    finally:
        rt.presence.subscription_ended(presence_key)


def _starting_positions(current: Positions, resume_from: Positions | None) -> Positions:
    """Resume where the cursor says; projects it does not name start from now."""
    if resume_from is None:
        return dict(current)
    positions = dict(current)
    for project_id, head in current.items():
        if project_id in resume_from:
            if resume_from[project_id] > head:
                raise BadUserInput("Cursor is ahead of the event log; it was not issued here.")
            positions[project_id] = resume_from[project_id]
    return positions


async def _catch_up(rt: Runtime, positions: Positions) -> AsyncIterator[events.TaskStatusChanged]:
    """Replay the log past ``positions`` in batches, advancing them as it goes."""
    batch_size = rt.settings.replay_batch_size
    while True:
        async with rt.sessions() as session:
            batch = await log.read_after(session, positions, batch_size)
        for change in batch:
            positions[change.project_id] = change.position
            rt.metrics.replayed.inc()
            rt.metrics.events_delivered.inc()
            yield change
        if len(batch) < batch_size:
            return


async def notifications_received(
    rt: Runtime, user_id: int
) -> AsyncGenerator[models.Notification, None]:
    """Yield the caller's notifications as they are recorded."""
    channel = events.user_channel(rt.channel_prefix, user_id)
    presence_key = rt.presence.subscription_started(user_id, ())
    try:
        async with rt.hub.listen([channel], rt.settings.subscription_buffer) as inbox:
            last_seen = await notifications.latest_id(rt.sessions, user_id)
            while True:
                message = await inbox.get()
                if isinstance(message, events.NotificationRecorded | events.Resync):
                    # Read what is new rather than trusting the message: this
                    # also recovers anything a lost publish or a resync hid.
                    for note in await notifications.newer_than(
                        rt.sessions, user_id, last_seen, rt.settings.replay_batch_size
                    ):
                        last_seen = note.id
                        rt.metrics.events_delivered.inc()
                        yield note
    finally:
        rt.presence.subscription_ended(presence_key)
