"""The caller's notifications."""

from __future__ import annotations

import base64
import binascii

import strawberry

from taskbell.errors import BadUserInput
from taskbell.resolvers.common import parse_id, parse_ids
from taskbell.schema.types import (
    CtxInfo,
    Notification,
    NotificationConnection,
    NotificationEdge,
    PageInfo,
    notification_cursor,
)
from taskbell.services import notifications


def _after_id(after: str | None) -> int | None:
    if after is None:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(after.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadUserInput("Malformed cursor.") from error
    if kind != "n":
        raise BadUserInput("Malformed cursor.")
    return parse_id(value, "cursor")


async def list_notifications(
    info: CtxInfo, unread_only: bool = False, first: int = 20, after: str | None = None
) -> NotificationConnection:
    user = info.context.require_identity().user
    page = await notifications.page(
        info.context.rt.sessions,
        user.id,
        unread_only=unread_only,
        first=first,
        after_id=_after_id(after),
    )
    edges = [
        NotificationEdge(cursor=notification_cursor(n.id), node=Notification.from_model(n))
        for n in page.items
    ]
    return NotificationConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


async def unread_notification_count(info: CtxInfo) -> int:
    user = info.context.require_identity().user
    return await notifications.unread_count(info.context.rt.sessions, user.id)


async def mark_notifications_read(info: CtxInfo, ids: list[strawberry.ID] | None = None) -> int:
    user = info.context.require_identity().user
    return await notifications.mark_read(info.context.rt.sessions, user.id, parse_ids(ids))
