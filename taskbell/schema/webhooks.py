"""GraphQL types of outgoing webhooks: endpoints and their deliveries."""

from __future__ import annotations

from datetime import datetime

import strawberry

from taskbell import models
from taskbell.schema.types import CtxInfo, Project
from taskbell.services import webhooks


@strawberry.type(description="One message to one endpoint, with every attempt at delivering it.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="The webhook-id header of every attempt.")
    event_type: str
    attempts: int
    last_status_code: int | None
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    failed: bool = strawberry.field(
        description="True when the retry schedule ran out, or the endpoint was disabled."
    )

    @classmethod
    def from_model(cls, message: models.OutboxMessage) -> WebhookDelivery:
        pending = message.delivered_at is None and message.failed_at is None
        return cls(
            id=strawberry.ID(message.message_id),
            event_type=message.event_type,
            attempts=message.attempts,
            last_status_code=message.last_status_code,
            delivered_at=message.delivered_at,
            next_attempt_at=message.next_attempt_at if pending else None,
            failed=message.failed_at is not None,
        )


@strawberry.type(description="An outgoing webhook (Standard Webhooks) for one project's events.")
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    secret: str | None = strawberry.field(
        description="whsec_... signing secret; only createWebhook returns it, null everywhere else."
    )
    enabled: bool = strawberry.field(description="False once the endpoint answered 410 Gone.")
    created_at: datetime
    project_id: strawberry.Private[int]

    @classmethod
    def from_model(
        cls, endpoint: models.WebhookEndpoint, *, with_secret: bool = False
    ) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(str(endpoint.id)),
            url=endpoint.url,
            secret=endpoint.secret if with_secret else None,
            enabled=endpoint.enabled,
            created_at=endpoint.created_at,
            project_id=endpoint.project_id,
        )

    @strawberry.field
    async def project(self, info: CtxInfo) -> Project:
        project = await info.context.loaders.project.load(self.project_id)
        assert project is not None  # foreign keys guarantee it
        return Project.from_model(project)

    @strawberry.field(description="Newest first.")  # type: ignore[untyped-decorator]  # strawberry overload
    async def deliveries(self, info: CtxInfo, first: int = 20) -> list[WebhookDelivery]:
        # Endpoints are only reachable through member-checked fields (webhooks, createWebhook).
        rows = await webhooks.list_deliveries(info.context.rt.sessions, int(self.id), first)
        return [WebhookDelivery.from_model(row) for row in rows]
