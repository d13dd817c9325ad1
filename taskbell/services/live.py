"""The live feeds' use cases: who may follow what, and where their durable logs are.

The realtime core (``taskbell.realtime``) keeps the stream promises; this module
gives it, per feed, the authorization at subscribe time, the log to read, and
the access rules to re-check while a subscription lasts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select

from taskbell import events, models
from taskbell.cursors import NOTIFICATIONS, TASK_EVENTS, Positions, decode_cursor
from taskbell.errors import BadUserInput, DomainError, Forbidden, Unauthenticated
from taskbell.realtime import streams
from taskbell.runtime import Runtime
from taskbell.services import access, log, users
from taskbell.services.users import Identity

TOKEN_REVOKED = "This token was revoked; sign in again."
NO_LONGER_A_MEMBER = "You are no longer a member of this project."


async def authorize_task_events(
    rt: Runtime, viewer: Identity, project_ids: list[int] | None, after: str | None
) -> tuple[list[int], Positions | None]:
    """The projects a ``taskStatusUpdated`` covers and where it resumes; raises on refusal."""
    resume_from = decode_cursor(after, TASK_EVENTS) if after is not None else None
    scope = await access.subscription_scope(rt, viewer.user.id, project_ids)
    if resume_from is not None:
        await streams.resume_positions(TaskEvents(rt), scope, resume_from)  # refuses foreign ones
    return scope, resume_from


async def authorize_notifications(
    rt: Runtime, viewer: Identity, after: str | None
) -> Positions | None:
    """Where a ``notificationReceived`` resumes; a cursor of someone else's is refused."""
    if after is None:
        return None
    resume_from = decode_cursor(after, NOTIFICATIONS)
    if set(resume_from) != {viewer.user.id}:
        raise BadUserInput("This cursor belongs to another notification stream.")
    await streams.resume_positions(Notifications(rt), [viewer.user.id], resume_from)
    return resume_from


def token_revocation(message: events.Message, viewer: Identity) -> DomainError | None:
    if isinstance(message, events.TokenRevoked) and message.token_id == viewer.token_id:
        return Unauthenticated(TOKEN_REVOKED)
    return None


async def _token_errors(rt: Runtime, viewers: Collection[Identity]) -> dict[int, DomainError]:
    async with rt.sessions() as session:
        live_tokens = await users.live_token_ids(session, {v.token_id for v in viewers})
    return {
        v.token_id: Unauthenticated(TOKEN_REVOKED) for v in viewers if v.token_id not in live_tokens
    }


class TaskEvents:
    """``taskStatusUpdated``'s log: per-project positions in ``task_events``."""

    cursor_kind = TASK_EVENTS

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def channels(self, keys: Collection[int]) -> list[str]:
        return [events.project_channel(self._rt.channel_prefix, pid) for pid in keys]

    async def heads(self, keys: Collection[int]) -> Positions:
        async with self._rt.sessions() as session:
            return await log.heads(session, list(keys))

    async def access_versions(self, keys: Collection[int]) -> dict[int, int]:
        async with self._rt.sessions() as session:
            return await access.membership_versions(session, list(keys))

    async def read_after(self, positions: Positions, limit: int) -> list[events.TaskStatusChanged]:
        async with self._rt.sessions() as session:
            return await log.read_after(session, positions, limit)

    def live_item(self, message: events.Message) -> events.TaskStatusChanged | None:
        return message if isinstance(message, events.TaskStatusChanged) else None

    def revocation(
        self, message: events.Message, identity: Identity, keys: Collection[int]
    ) -> DomainError | None:
        if (
            isinstance(message, events.MembershipRevoked)
            and message.user_id == identity.user.id
            and message.project_id in keys
        ):
            return Forbidden(NO_LONGER_A_MEMBER)
        return token_revocation(message, identity)

    async def access_errors(
        self, identities: Collection[Identity], keys: Collection[int]
    ) -> dict[int, DomainError]:
        """Two queries for everyone: live tokens, and who is still a member of every key."""
        errors = await _token_errors(self._rt, identities)
        async with self._rt.sessions() as session:
            members = await access.members_of_all(
                session, {i.user.id for i in identities}, list(keys)
            )
        for identity in identities:
            if identity.token_id not in errors and identity.user.id not in members:
                errors[identity.token_id] = Forbidden(NO_LONGER_A_MEMBER)
        return errors


class Notifications:
    """``notificationReceived``'s log: per-recipient positions in ``notifications``."""

    cursor_kind = NOTIFICATIONS

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def channels(self, keys: Collection[int]) -> list[str]:
        return [events.user_channel(self._rt.channel_prefix, uid) for uid in keys]

    async def heads(self, keys: Collection[int]) -> Positions:
        async with self._rt.sessions() as session:
            rows = await session.execute(
                select(models.User.id, models.User.notification_seq).where(
                    models.User.id.in_(list(keys))
                )
            )
            return dict(rows.all())

    async def access_versions(self, keys: Collection[int]) -> dict[int, int]:
        return dict.fromkeys(keys, 0)

    async def read_after(
        self, positions: Positions, limit: int
    ) -> Sequence[events.NotificationRecorded]:
        (recipient_id, position), *_ = positions.items()
        async with self._rt.sessions() as session:
            rows = await session.scalars(
                select(models.Notification)
                .where(
                    models.Notification.recipient_id == recipient_id,
                    models.Notification.position > position,
                )
                .order_by(models.Notification.position)
                .limit(limit)
            )
            return [recorded(note) for note in rows]

    def live_item(self, message: events.Message) -> events.NotificationRecorded | None:
        return message if isinstance(message, events.NotificationRecorded) else None

    def revocation(
        self, message: events.Message, identity: Identity, keys: Collection[int]
    ) -> DomainError | None:
        return token_revocation(message, identity)

    async def access_errors(
        self, identities: Collection[Identity], keys: Collection[int]
    ) -> dict[int, DomainError]:
        return await _token_errors(self._rt, identities)


def recorded(note: models.Notification) -> events.NotificationRecorded:
    """A stored notification as the message that announced it."""
    return events.NotificationRecorded(
        notification_id=note.id,
        recipient_id=note.recipient_id,
        position=note.position,
        event_id=note.event_id,
        project_id=note.project_id,
        task_id=note.task_id,
        actor_id=note.actor_id,
        message=note.message,
        created_at=note.created_at,
    )
