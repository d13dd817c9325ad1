"""Outgoing webhooks: endpoints of a project, and one outbox message per change for each."""

from __future__ import annotations

import base64
import json
import secrets

from sqlalchemy import ColumnElement, Exists, String, bindparam, cast, exists, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from taskbell import destinations, models, outbox
from taskbell.db import Sessions
from taskbell.domain import status_change_message
from taskbell.errors import BadUserInput, NotFound
from taskbell.runtime import Runtime
from taskbell.services import access

CHANNEL = "webhook"
STATUS_CHANGED = "task.status_changed"
DELIVERIES_MAX = 100

_ENDPOINTS = models.Base.metadata.tables[models.WebhookEndpoint.__tablename__]
# One message per enabled endpoint of the project; its webhook-id is unique per
# change (the prefix) and per endpoint (the suffix).
_ENQUEUE_STATUS_CHANGE = outbox.enqueue_for_each(
    select(
        _ENDPOINTS.c.id,
        bindparam("id_prefix", type_=String) + cast(_ENDPOINTS.c.id, String),
    ).where(_ENDPOINTS.c.project_id == bindparam("project_id"), _ENDPOINTS.c.enabled == true())
)


def any_enabled(project_id: ColumnElement[int]) -> Exists:
    """Whether the project has an endpoint to tell (a change skips the enqueue when not)."""
    return exists().where(_ENDPOINTS.c.project_id == project_id, _ENDPOINTS.c.enabled == true())


async def list_webhooks(
    sessions: Sessions, user_id: int, project_id: int
) -> list[models.WebhookEndpoint]:
    async with sessions() as session:
        await access.require_member(session, user_id, project_id)
        rows = await session.scalars(
            select(models.WebhookEndpoint)
            .where(models.WebhookEndpoint.project_id == project_id)
            .order_by(models.WebhookEndpoint.id)
        )
        return list(rows)


async def create_webhook(
    rt: Runtime, user_id: int, project_id: int, url: str
) -> models.WebhookEndpoint:
    """Any member may add one; the URL must pass the destination rule (taskbell.destinations)."""
    async with rt.sessions() as session:
        await access.require_member(session, user_id, project_id)
    parsed = destinations.parse_url(url)
    # Resolved outside the transaction: DNS may take seconds, the write lock must not.
    await destinations.resolve(parsed, rt.settings.allow_private_destinations)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    async with rt.sessions.begin() as session:
        await access.require_member(session, user_id, project_id)
        endpoint = models.WebhookEndpoint(
            project_id=project_id, url=url.strip(), secret=secret, created_by_id=user_id
        )
        session.add(endpoint)
    return endpoint


async def delete_webhook(rt: Runtime, user_id: int, endpoint_id: int) -> bool:
    """Delete the endpoint and its deliveries, pending ones included."""
    async with rt.sessions.begin() as session:
        endpoint = await session.get(models.WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise NotFound("Webhook not found.")
        await access.require_member(session, user_id, endpoint.project_id)
        await session.delete(endpoint)
        await outbox.discard(await session.connection(), CHANNEL, endpoint_id)
    return True


async def list_deliveries(
    sessions: Sessions, endpoint_id: int, first: int
) -> list[models.OutboxMessage]:
    """Newest first; the caller has already shown it may see the endpoint."""
    if not 0 <= first <= DELIVERIES_MAX:
        raise BadUserInput(f"first must be between 0 and {DELIVERIES_MAX}.")
    async with sessions() as session:
        rows = await session.scalars(
            select(models.OutboxMessage)
            .where(
                models.OutboxMessage.channel == CHANNEL,
                models.OutboxMessage.target_id == endpoint_id,
            )
            .order_by(models.OutboxMessage.id.desc())
            .limit(first)
        )
        return list(rows)


async def record_status_change(
    connection: AsyncConnection,
    event: models.TaskEvent,
    task_title: str,
    project_name: str,
    actor: models.User,
) -> int:
    """Inside the change's transaction: one delivery per enabled endpoint; returns how many."""
    return await outbox.enqueue(
        connection,
        _ENQUEUE_STATUS_CHANGE,
        channel=CHANNEL,
        event_type=STATUS_CHANGED,
        payload=status_change_payload(event, task_title, project_name, actor),
        params={"project_id": event.project_id, "id_prefix": f"msg_{secrets.token_hex(12)}_"},
    )


def status_change_payload(
    event: models.TaskEvent, task_title: str, project_name: str, actor: models.User
) -> str:
    """The body every endpoint gets for one change (CONTRACT.md, Outgoing webhooks)."""
    occurred_at = event.occurred_at.isoformat()
    body = {
        "type": STATUS_CHANGED,
        "timestamp": occurred_at,
        "data": {
            "taskId": str(event.task_id),
            "taskTitle": task_title,
            "projectId": str(event.project_id),
            "projectName": project_name,
            "oldStatus": event.old_status.value,
            "newStatus": event.new_status.value,
            "version": event.task_version,
            "message": status_change_message(
                actor.name, task_title, event.old_status, event.new_status
            ),
            "occurredAt": occurred_at,
            "updatedBy": {"id": str(actor.id), "name": actor.name},
        },
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
