"""A status change writes one outbox message per enabled webhook of its project, in its own
transaction; a change that fails writes none."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from taskbell import models
from taskbell.domain import TaskStatus
from taskbell.errors import Conflict
from taskbell.runtime import Runtime
from taskbell.services import tasks, webhooks
from tests.integration.conftest import MakeTeam

# Nothing listens on the discard port: deliveries fail and wait for their retry.
NOWHERE = "http://127.0.0.1:9/hook"


async def messages_of(rt: Runtime, endpoint_ids: list[int]) -> list[models.OutboxMessage]:
    async with rt.sessions() as session:
        rows = await session.scalars(
            select(models.OutboxMessage)
            .where(
                models.OutboxMessage.channel == webhooks.CHANNEL,
                models.OutboxMessage.target_id.in_(endpoint_ids),
            )
            .order_by(models.OutboxMessage.id)
        )
        return list(rows)


@pytest.fixture
def private_ok(rt: Runtime) -> Runtime:
    rt.settings.allow_private_destinations = True
    return rt


async def test_each_enabled_endpoint_gets_one_message_per_change(
    private_ok: Runtime, make_team: MakeTeam
) -> None:
    """Two enabled endpoints and a disabled one: two messages, the same body, distinct ids."""
    rt, team = private_ok, await make_team(size=2)
    hooks = [
        await webhooks.create_webhook(rt, team.owner.id, team.project.id, NOWHERE) for _ in range(3)
    ]
    async with rt.sessions.begin() as session:
        await session.execute(
            update(models.WebhookEndpoint)
            .where(models.WebhookEndpoint.id == hooks[2].id)
            .values(enabled=False)
        )
    await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_PROGRESS, None)
    rows = await messages_of(rt, [h.id for h in hooks])
    assert [r.target_id for r in rows] == [hooks[0].id, hooks[1].id]
    assert rows[0].payload == rows[1].payload
    assert rows[0].message_id != rows[1].message_id
    assert all(r.message_id.startswith("msg_") for r in rows)
    body = json.loads(rows[0].payload)
    assert body["type"] == rows[0].event_type == "task.status_changed"
    assert (body["data"]["oldStatus"], body["data"]["newStatus"]) == ("TODO", "IN_PROGRESS")


async def test_a_refused_change_writes_no_message(private_ok: Runtime, make_team: MakeTeam) -> None:
    """CONFLICT rolls everything back: the outbox included."""
    rt, team = private_ok, await make_team(size=2)
    hook = await webhooks.create_webhook(rt, team.owner.id, team.project.id, NOWHERE)
    await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_REVIEW, None)
    assert len(await messages_of(rt, [hook.id])) == 1
    with pytest.raises(Conflict):
        await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.COMPLETED, 1)
    assert len(await messages_of(rt, [hook.id])) == 1


async def test_deleting_an_endpoint_deletes_its_messages(
    private_ok: Runtime, make_team: MakeTeam
) -> None:
    """Nothing is delivered to an endpoint once it is gone."""
    rt, team = private_ok, await make_team(size=2)
    hook = await webhooks.create_webhook(rt, team.owner.id, team.project.id, NOWHERE)
    await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_REVIEW, None)
    assert len(await messages_of(rt, [hook.id])) == 1
    assert await webhooks.delete_webhook(rt, team.owner.id, hook.id)
    assert await messages_of(rt, [hook.id]) == []
