"""The email sweeper hands each pending notification to exactly one outbox email: the
IMMEDIATE window, reads within it, digests on their hour, concurrent sweepers."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from taskbell import models
from taskbell.app import build_runtime, running
from taskbell.domain import EmailMode, TaskStatus
from taskbell.runtime import Runtime
from taskbell.services import email_sweeper, notifications, preferences, tasks
from taskbell.services.email_sweeper import EmailSweeper
from tests.integration.conftest import MakeTeam, settings_for
from tests.support.statements import counting_statements

DELAY = 60.0
STATUSES = [TaskStatus.IN_PROGRESS, TaskStatus.IN_REVIEW, TaskStatus.COMPLETED]


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    """Email on (nothing listens on the discard port), the process's own sweeper idle: tests
    sweep at the instants they choose."""
    settings = settings_for(
        database_url,
        smtp_url="smtp://127.0.0.1:9",
        email_delay_seconds=DELAY,
        email_sweep_seconds=3600,
    )
    async with running(build_runtime(settings)) as runtime:
        yield runtime


def sweeper(rt: Runtime) -> EmailSweeper:
    return EmailSweeper(rt.settings, rt.sessions, lambda: None)


async def emails(rt: Runtime, user_id: int) -> list[models.OutboxMessage]:
    async with rt.sessions() as session:
        rows = await session.scalars(
            select(models.OutboxMessage)
            .where(
                models.OutboxMessage.channel == email_sweeper.CHANNEL,
                models.OutboxMessage.target_id == user_id,
            )
            .order_by(models.OutboxMessage.id)
        )
        return list(rows)


async def member(rt: Runtime, user_id: int) -> models.User:
    async with rt.sessions() as session:
        return await session.get_one(models.User, user_id)


def payload(message: models.OutboxMessage) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(message.payload)
    return body


async def test_three_quick_changes_make_one_email_when_the_window_closes(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """The first notification opens the window; the later ones ride along."""
    team = await make_team(size=2)
    bob = team.members[0]
    for status in STATUSES:
        await tasks.update_task_status(rt, team.owner, team.task.id, status, None)
    opened = (await member(rt, bob.id)).email_due_at
    assert opened is not None
    await sweeper(rt).sweep(now=opened - timedelta(seconds=1))
    assert await emails(rt, bob.id) == []
    await sweeper(rt).sweep(now=opened + timedelta(seconds=1))
    [email] = await emails(rt, bob.id)
    body = payload(email)
    assert len(body["notificationIds"]) == 3
    assert body["subject"] == "3 new TaskBell notifications"
    assert "from 'To Do' to 'In Progress'" in body["text"]
    assert "from 'In Review' to 'Completed'" in html.unescape(body["html"])
    after = await member(rt, bob.id)
    assert after.email_due_at is None
    assert after.unsubscribe_token is not None
    assert body["unsubscribeUrl"].endswith(f"/email/unsubscribe?token={after.unsubscribe_token}")
    async with rt.sessions() as session:
        stamped = set(
            await session.scalars(
                select(models.Notification.email_message_id).where(
                    models.Notification.recipient_id == bob.id
                )
            )
        )
    assert stamped == {email.message_id}
    await sweeper(rt).sweep(now=opened + timedelta(hours=1))
    assert len(await emails(rt, bob.id)) == 1


async def test_a_notification_read_within_the_window_is_not_mailed(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """Read before the window closes: the email carries only what is still unread."""
    team = await make_team(size=2)
    bob = team.members[0]
    await tasks.update_task_status(rt, team.owner, team.task.id, STATUSES[0], None)
    assert await notifications.mark_read(rt.sessions, bob.id, None) == 1
    await tasks.update_task_status(rt, team.owner, team.task.id, STATUSES[1], None)
    opened = (await member(rt, bob.id)).email_due_at
    assert opened is not None
    await sweeper(rt).sweep(now=opened + timedelta(seconds=1))
    [email] = await emails(rt, bob.id)
    assert len(payload(email)["notificationIds"]) == 1
    assert "to 'In Review'" in payload(email)["text"]
    assert "to 'In Progress'" not in payload(email)["text"]


async def test_all_read_within_the_window_means_no_email(rt: Runtime, make_team: MakeTeam) -> None:
    team = await make_team(size=2)
    bob = team.members[0]
    await tasks.update_task_status(rt, team.owner, team.task.id, STATUSES[0], None)
    await notifications.mark_read(rt.sessions, bob.id, None)
    opened = (await member(rt, bob.id)).email_due_at
    assert opened is not None
    await sweeper(rt).sweep(now=opened + timedelta(seconds=1))
    assert await emails(rt, bob.id) == []
    assert (await member(rt, bob.id)).email_due_at is None


async def test_an_hourly_digest_goes_at_the_top_of_the_members_hour(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """India is at +05:30: its top of the hour is half past in UTC. Changes do not move it."""
    team = await make_team(size=2)
    bob = team.members[0]
    await preferences.update_preferences(rt, bob.id, EmailMode.HOURLY, None, "Asia/Kolkata")
    due = (await member(rt, bob.id)).email_due_at
    assert due is not None
    assert due.astimezone(ZoneInfo("Asia/Kolkata")).minute == 0
    assert timedelta(0) < due - datetime.now(due.tzinfo) <= timedelta(hours=1)
    await tasks.update_task_status(rt, team.owner, team.task.id, STATUSES[0], None)
    assert (await member(rt, bob.id)).email_due_at == due
    await sweeper(rt).sweep(now=due)
    [email] = await emails(rt, bob.id)
    assert payload(email)["subject"] == "Your hourly TaskBell digest: 1 notification"
    assert (await member(rt, bob.id)).email_due_at == due + timedelta(hours=1)


async def test_turning_email_off_cancels_the_open_window(rt: Runtime, make_team: MakeTeam) -> None:
    team = await make_team(size=2)
    bob = team.members[0]
    await tasks.update_task_status(rt, team.owner, team.task.id, STATUSES[0], None)
    await preferences.update_preferences(rt, bob.id, EmailMode.OFF, None, None)
    assert (await member(rt, bob.id)).email_due_at is None
    await sweeper(rt).sweep(now=datetime.now(ZoneInfo("UTC")) + timedelta(days=1))
    assert await emails(rt, bob.id) == []


async def test_concurrent_sweepers_make_one_email(rt: Runtime, make_team: MakeTeam) -> None:
    """Four sweepers at the same instant: the member lock lets one of them have each member."""
    team = await make_team(size=4)
    for status in STATUSES:
        await tasks.update_task_status(rt, team.owner, team.task.id, status, None)
    later = datetime.now(ZoneInfo("UTC")) + timedelta(seconds=DELAY + 5)
    await asyncio.gather(*(sweeper(rt).sweep(now=later) for _ in range(4)))
    for person in team.members:
        [email] = await emails(rt, person.id)
        assert len(payload(email)["notificationIds"]) == 3


async def test_email_on_adds_no_statement_to_a_status_change(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """The window opens in the UPDATE that bumps notification_seq: no statement of its own
    (3 on PostgreSQL, 7 on SQLite, as test_task_status counts them without email)."""
    team = await make_team(size=6)
    with counting_statements(rt) as statements:
        await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_REVIEW, None)
    writes = [s for s in statements if not s.startswith("BEGIN")]
    assert len(writes) == (3 if rt.engine.dialect.name == "postgresql" else 7)
    for person in team.members:
        assert (await member(rt, person.id)).email_due_at is not None
