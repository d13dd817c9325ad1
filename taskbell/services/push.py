"""Web Push subscriptions of a member's browsers, and one outbox message per subscription
for each Notification a member with push on gets (delivered by ``push_sender``)."""

from __future__ import annotations

import base64
import binascii
import json
import re

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import (
    ColumnElement,
    Insert,
    String,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    insert,
    literal,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from taskbell import destinations, models, outbox
from taskbell.domain import status_change_message
from taskbell.errors import BadUserInput
from taskbell.models.base import utcnow
from taskbell.runtime import Runtime
from taskbell.upserts import insert_for

CHANNEL = "push"
MESSAGE_PREFIX = "push"
EVENT_TYPE = "notification"
AUTH_BYTES = 16  # RFC 8291: the auth secret
KEY_TEXT_MAX = 200
MOVED = "the subscription moved to another member"
# Browsers one member keeps registered; a new one beyond this replaces their oldest, so one
# account cannot turn each change into an unbounded number of outgoing requests.
SUBSCRIPTIONS_PER_MEMBER = 10
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")

_TABLES = models.Base.metadata.tables
_SUBSCRIPTIONS = _TABLES[models.PushSubscription.__tablename__]
_NOTIFICATIONS = _TABLES[models.Notification.__tablename__]
_USERS = _TABLES[models.User.__tablename__]
_OUTBOX = _TABLES[models.OutboxMessage.__tablename__]


def _enqueue_statement() -> Insert:
    """``INSERT ... SELECT``: one message per (Notification of the event, subscription of its
    recipient) where the recipient has push on. The payload is the change's JSON with each
    row's notificationId spliced in; the message id names the pair, so it is unique."""
    note_id = cast(_NOTIFICATIONS.c.id, String)
    rows = (
        select(
            _SUBSCRIPTIONS.c.id,
            literal(f"{MESSAGE_PREFIX}_", String)
            + note_id
            + "_"
            + cast(_SUBSCRIPTIONS.c.id, String),
            bindparam("channel", type_=String),
            bindparam("event_type", type_=String),
            bindparam("payload_head", type_=String) + note_id + bindparam("payload_tail", String),
            bindparam("now", type_=_OUTBOX.c.created_at.type),
            bindparam("now", type_=_OUTBOX.c.next_attempt_at.type),
        )
        .select_from(
            _NOTIFICATIONS.join(
                _SUBSCRIPTIONS, _SUBSCRIPTIONS.c.user_id == _NOTIFICATIONS.c.recipient_id
            ).join(_USERS, _USERS.c.id == _NOTIFICATIONS.c.recipient_id)
        )
        .where(_NOTIFICATIONS.c.event_id == bindparam("event_id"), _USERS.c.push_enabled == true())
    )
    columns = ["target_id", "message_id", "channel", "event_type", "payload"]
    return insert(_OUTBOX).from_select(
        [*columns, "created_at", "next_attempt_at"], rows, include_defaults=False
    )


_ENQUEUE = _enqueue_statement()


def reachable(
    user_id: ColumnElement[int], push_enabled: ColumnElement[bool]
) -> ColumnElement[bool]:
    """Whether a recipient has push on and a browser to push to (a change whose recipients
    have none skips the enqueue)."""
    return and_(push_enabled, exists().where(_SUBSCRIPTIONS.c.user_id == user_id))


async def record_status_change(
    connection: AsyncConnection,
    event: models.TaskEvent,
    task_title: str,
    project_name: str,
    actor: models.User,
    public_url: str,
) -> int:
    """Inside the change's transaction, after its Notifications: one statement, whatever the
    team's size; returns how many messages it wrote (the caller wakes the outbox)."""
    message = status_change_message(actor.name, task_title, event.old_status, event.new_status)
    head, tail = payload_parts(project_name, message, public_url, event)
    result = await connection.execute(
        _ENQUEUE,
        {
            "channel": CHANNEL,
            "event_type": EVENT_TYPE,
            "payload_head": head,
            "payload_tail": tail,
            "now": utcnow(),
            "event_id": event.id,
        },
    )
    return int(result.rowcount)


def notification_of(message_id: str) -> int:
    """The Notification a message carries, from its id (``push_<notification>_<subscription>``);
    0, which matches none, for an id of another shape."""
    parts = message_id.split("_")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 0


def payload_parts(
    project_name: str, message: str, public_url: str, event: models.TaskEvent
) -> tuple[str, str]:
    """The push payload's JSON around its notificationId (a string, as GraphQL IDs are)."""
    body = {
        "title": f"TaskBell · {project_name}",
        "body": message,
        "url": public_url,
        "projectId": str(event.project_id),
        "taskId": str(event.task_id),
        "notificationId": "",
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    head, end = text.rsplit('""', 1)
    return head + '"', '"' + end


def _decode(value: str, what: str) -> bytes:
    text = value.strip()
    if not text or len(text) > KEY_TEXT_MAX:
        raise BadUserInput(f"{what} must be base64url, 1 to {KEY_TEXT_MAX} characters.")
    if not _BASE64URL.fullmatch(text):
        raise BadUserInput(f"{what} is not valid base64url.")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise BadUserInput(f"{what} is not valid base64url.") from error


def check_keys(p256dh: str, auth: str) -> tuple[str, str]:
    """The keys as PushSubscription.toJSON() gives them, checked; BAD_USER_INPUT otherwise."""
    point = _decode(p256dh, "p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as error:
        raise BadUserInput("p256dh must be an uncompressed P-256 public key.") from error
    if len(point) != 65:
        raise BadUserInput("p256dh must be an uncompressed P-256 public key.")
    if len(_decode(auth, "auth")) != AUTH_BYTES:
        raise BadUserInput(f"auth must be {AUTH_BYTES} bytes.")
    return p256dh.strip(), auth.strip()


def parse_endpoint(raw: str, allow_private: bool) -> httpx.URL:
    """https only (http too when private destinations are allowed: tests, private networks)."""
    url = destinations.parse_url(raw)
    if url.scheme != "https" and not allow_private:
        raise destinations.RefusedDestination("A push endpoint must be an https:// URL.")
    return url


async def check_endpoint(raw: str, allow_private: bool) -> destinations.Destination:
    """The endpoint under the webhooks' address rule (taskbell.destinations), or BAD_USER_INPUT."""
    return await destinations.resolve(parse_endpoint(raw, allow_private), allow_private)


async def register_subscription(
    rt: Runtime, user_id: int, endpoint: str, p256dh: str, auth: str
) -> bool:
    """Idempotent per endpoint; an endpoint another member registered moves to the caller."""
    p256dh, auth = check_keys(p256dh, auth)
    endpoint = endpoint.strip()
    # Resolved outside the transaction: DNS may take seconds, the write lock must not.
    await check_endpoint(endpoint, rt.settings.allow_private_destinations)
    async with rt.sessions.transaction() as connection:
        previous = (
            await connection.execute(
                select(_SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.user_id).where(
                    _SUBSCRIPTIONS.c.endpoint == endpoint
                )
            )
        ).first()
        values = {"user_id": user_id, "p256dh": p256dh, "auth": auth}
        upsert = insert_for(connection, _SUBSCRIPTIONS).values(
            endpoint=endpoint, created_at=utcnow(), **values
        )
        await connection.execute(
            upsert.on_conflict_do_update(index_elements=["endpoint"], set_=values)
        )
        if previous is not None and previous.user_id != user_id:
            # The browser changed hands: what was waiting for the previous member stays theirs.
            await outbox.fail_pending(connection, CHANNEL, previous.id, MOVED, utcnow())
        await _drop_oldest(connection, user_id)
    return True


async def _drop_oldest(connection: AsyncConnection, user_id: int) -> None:
    """Keep the member's newest SUBSCRIPTIONS_PER_MEMBER browsers."""
    extra = await connection.scalars(
        select(_SUBSCRIPTIONS.c.id)
        .where(_SUBSCRIPTIONS.c.user_id == user_id)
        .order_by(_SUBSCRIPTIONS.c.created_at.desc(), _SUBSCRIPTIONS.c.id.desc())
        .offset(SUBSCRIPTIONS_PER_MEMBER)
    )
    for subscription_id in list(extra):
        await connection.execute(
            delete(_SUBSCRIPTIONS).where(_SUBSCRIPTIONS.c.id == subscription_id)
        )
        reason = "replaced by a newer browser of the same member"
        await outbox.fail_pending(connection, CHANNEL, subscription_id, reason, utcnow())


async def unregister_subscription(rt: Runtime, user_id: int, endpoint: str) -> bool:
    """True when the caller had this endpoint registered (and now has not)."""
    async with rt.sessions.transaction() as connection:
        removed = await connection.scalar(
            delete(_SUBSCRIPTIONS)
            .where(
                _SUBSCRIPTIONS.c.endpoint == endpoint.strip(), _SUBSCRIPTIONS.c.user_id == user_id
            )
            .returning(_SUBSCRIPTIONS.c.id)
        )
        if removed is not None:
            await outbox.fail_pending(
                connection, CHANNEL, removed, "the subscription was removed", utcnow()
            )
    return removed is not None


async def remove_gone(rt: Runtime, subscription_id: int, reason: str) -> None:
    """The push service said 404/410: the subscription no longer exists anywhere."""
    async with rt.sessions.transaction() as connection:
        await connection.execute(
            delete(_SUBSCRIPTIONS).where(_SUBSCRIPTIONS.c.id == subscription_id)
        )
        await outbox.fail_pending(connection, CHANNEL, subscription_id, reason, utcnow())
