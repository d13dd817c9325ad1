"""Webhook queries and mutations."""

from __future__ import annotations

import strawberry

from taskbell.resolvers.common import parse_id
from taskbell.schema.types import CtxInfo
from taskbell.schema.webhooks import WebhookEndpoint
from taskbell.services import webhooks


async def list_webhooks(info: CtxInfo, project_id: strawberry.ID) -> list[WebhookEndpoint]:
    user = info.context.require_identity().user
    rows = await webhooks.list_webhooks(
        info.context.rt.sessions, user.id, parse_id(project_id, "projectId")
    )
    return [WebhookEndpoint.from_model(row) for row in rows]


async def create_webhook(info: CtxInfo, project_id: strawberry.ID, url: str) -> WebhookEndpoint:
    user = info.context.require_identity().user
    created = await webhooks.create_webhook(
        info.context.rt, user.id, parse_id(project_id, "projectId"), url
    )
    return WebhookEndpoint.from_model(created, with_secret=True)


async def delete_webhook(info: CtxInfo, id: strawberry.ID) -> bool:
    user = info.context.require_identity().user
    return await webhooks.delete_webhook(info.context.rt, user.id, parse_id(id))
