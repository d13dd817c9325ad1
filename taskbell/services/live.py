"""Live subscriptions: replay from the log, then live messages, with no gap and no duplicate.

The inbox is subscribed at the broker *before* the log is read, so every event
committed after the read is also in the inbox; live messages at or below the
position already delivered are dropped, and a live message that skips ahead
(a publish lost in an outage, or a dropped backlog) triggers a re-read of the
log, which is the source of truth.

Access is checked at subscribe time and again whenever it may have changed: a
``TokenRevoked``/``MembershipRevoked`` message ends the stream at once, and an
event whose project's membership version grew (someone left) is delivered only
after re-checking, so a removed member never sees a later event even if the
revocation message is slower than the event or lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from dataclasses import dataclass
from typing import Protocol

from taskbell import events, models
from taskbell.cursors import Positions, decode_cursor, encode_cursor
from taskbell.errors import BadUserInput, DomainError, Forbidden, Unauthenticated
from taskbell.runtime import Runtime
from taskbell.services import access, log, notifications, users
from taskbell.services.users import Identity

Delivery = tuple[events.TaskStatusChanged, str]
TOKEN_REVOKED = "This token was revoked; sign in again."
NO_LONGER_A_MEMBER = "You are no longer a member of this project."


class Audience(Protocol):
    """Whom a stream serves: where their revocations arrive, and how access is re-checked."""

    def channels(self, prefix: str) -> list[str]: ...

    def check(self, message: events.Message, scope: Collection[int]) -> None:
        """Raise to end the stream when ``message`` revokes the audience's access."""

    async def recheck(self, scope: list[int]) -> None:
        """Access may have changed: raise to end the stream if it has."""


@dataclass(frozen=True)
class Viewer:
    """The audience of one ordinary subscription: one token's holder."""

    rt: Runtime
    identity: Identity

    def channels(self, prefix: str) -> list[str]:
        return [events.user_channel(prefix, self.identity.user.id)]

    def check(self, message: events.Message, scope: Collection[int]) -> None:
        error = revocation_error(message, self.identity, scope)
        if error is not None:
            raise error

    async def recheck(self, scope: list[int]) -> None:
        errors = await access_errors(self.rt, [self.identity], scope)
        if errors:
            raise errors[self.identity.token_id]


async def task_status_stream(
    rt: Runtime, viewer: Identity, project_ids: list[int] | None, after: str | None
) -> AsyncGenerator[Delivery, None]:
    """Validate and authorize now, so a refusal is a subscribe-time error; stream later."""
    scope, resume_from = await authorize(rt, viewer, project_ids, after)
    stream = task_status_events(rt, Viewer(rt, viewer), scope, resume_from)
    return _counted(rt, viewer, scope, stream)


async def _counted(
    rt: Runtime, viewer: Identity, scope: list[int], stream: AsyncGenerator[Delivery, None]
) -> AsyncGenerator[Delivery, None]:
    """The stream, counted in the process's statistics while it runs."""
    presence_key = rt.presence.subscription_started(viewer.user.id, scope)
    try:
        async with contextlib.aclosing(stream):
            async for delivery in stream:
                yield delivery
    finally:
        rt.presence.subscription_ended(presence_key)


async def authorize(
    rt: Runtime, viewer: Identity, project_ids: list[int] | None, after: str | None
) -> tuple[list[int], Positions | None]:
    """The projects the subscription covers, and where to resume; raises on refusal."""
    resume_from = decode_cursor(after) if after is not None else None
    async with rt.sessions.connect() as connection:
        scope = await access.subscription_scope(connection, viewer.user.id, project_ids)
    if resume_from is not None:
        await resume_positions(rt, scope, resume_from)  # refuses a cursor from elsewhere
    return scope, resume_from


async def task_status_events(
    rt: Runtime, audience: Audience, scope: list[int], resume_from: Positions | None
) -> AsyncGenerator[Delivery, None]:
    """Yield (event, cursor) pairs for the scope's projects until access ends."""
    channels = [events.project_channel(rt.channel_prefix, pid) for pid in scope]
    channels += audience.channels(rt.channel_prefix)
    async with rt.hub.listen(channels, rt.settings.subscription_buffer) as inbox:
        async with rt.sessions() as session:
            positions = _starting_positions(await log.heads(session, scope), resume_from)
            versions = await access.membership_versions(session, scope)
        async for change in catch_up(rt, positions):
            yield change, encode_cursor(positions)
        while True:
            message = await inbox.get()
            audience.check(message, positions)
            if isinstance(message, events.TaskStatusChanged):
                head = positions.get(message.project_id)
                if head is None or message.position <= head:
                    continue  # already delivered (replayed) or not ours
                if message.position == head + 1:
                    if message.membership_version > versions[message.project_id]:
                        await audience.recheck(scope)
                        versions[message.project_id] = message.membership_version
                    positions[message.project_id] = message.position
                    yield message, encode_cursor(positions)
                    continue
            elif not isinstance(message, events.Resync):
                continue
            # A gap, or a Resync: access may have changed and the log has
            # everything we may have missed.
            await audience.recheck(scope)
            async for change in catch_up(rt, positions):
                yield change, encode_cursor(positions)


async def resume_positions(rt: Runtime, scope: list[int], resume_from: Positions) -> Positions:
    """Where a resuming subscription starts in each project of its scope."""
    async with rt.sessions() as session:
        return _starting_positions(await log.heads(session, scope), resume_from)


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


def revocation_error(
    message: events.Message, viewer: Identity, scope: Collection[int]
) -> DomainError | None:
    """Why ``message`` ends the viewer's subscription over ``scope``, if it does."""
    if isinstance(message, events.TokenRevoked) and message.token_id == viewer.token_id:
        return Unauthenticated(TOKEN_REVOKED)
    if (
        isinstance(message, events.MembershipRevoked)
        and message.user_id == viewer.user.id
        and message.project_id in scope
    ):
        return Forbidden(NO_LONGER_A_MEMBER)
    return None


async def access_errors(
    rt: Runtime, viewers: Collection[Identity], scope: list[int]
) -> dict[int, DomainError]:
    """By token id, the viewers who may no longer follow ``scope``, and why (two queries)."""
    token_ids = {viewer.token_id for viewer in viewers}
    user_ids = {viewer.user.id for viewer in viewers}
    async with rt.sessions() as session:
        live_tokens = await users.live_token_ids(session, token_ids)
        members = await access.members_of_all(session, user_ids, scope)
    errors: dict[int, DomainError] = {}
    for viewer in viewers:
        if viewer.token_id not in live_tokens:
            errors[viewer.token_id] = Unauthenticated(TOKEN_REVOKED)
        elif viewer.user.id not in members:
            errors[viewer.token_id] = Forbidden(NO_LONGER_A_MEMBER)
    return errors


async def catch_up(rt: Runtime, positions: Positions) -> AsyncIterator[events.TaskStatusChanged]:
    """Replay the log past ``positions`` in batches, advancing them as it goes."""
    batch_size = rt.settings.replay_batch_size
    while True:
        async with rt.sessions() as session:
            batch = await log.read_after(session, positions, batch_size)
        for change in batch:
            positions[change.project_id] = change.position
            rt.metrics.replayed.inc()
            yield change
        if len(batch) < batch_size:
            return


async def notifications_received(
    rt: Runtime, viewer: Identity
) -> AsyncGenerator[models.Notification, None]:
    """Yield the caller's notifications as they are recorded, until the token is revoked."""
    user_id = viewer.user.id
    audience = Viewer(rt, viewer)
    channel = events.user_channel(rt.channel_prefix, user_id)
    presence_key = rt.presence.subscription_started(user_id, ())
    try:
        async with rt.hub.listen([channel], rt.settings.subscription_buffer) as inbox:
            last_seen = await notifications.latest_id(rt.sessions, user_id)
            while True:
                message = await inbox.get()
                audience.check(message, ())
                if isinstance(message, events.Resync):
                    await audience.recheck([])
                if isinstance(message, events.NotificationRecorded | events.Resync):
                    # Read what is new rather than trusting the message: this
                    # also recovers anything a lost publish or a resync hid.
                    for note in await notifications.newer_than(
                        rt.sessions, user_id, last_seen, rt.settings.replay_batch_size
                    ):
                        last_seen = note.id
                        yield note
    finally:
        rt.presence.subscription_ended(presence_key)
