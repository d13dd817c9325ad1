"""Email against a real SMTP server (aiosmtpd on 127.0.0.1) and real `taskbell serve`
processes: one email per window, reads and mutes respected, an SMTP outage, a TaskBell
restart and two processes each deliver exactly once, one-click unsubscribe."""

from __future__ import annotations

import asyncio
import html
import json
import re
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import RequireService
from tests.support.processes import TaskBellProcess, postgres_database, sqlite_url
from tests.support.smtp_receiver import Mail, SmtpReceiver
from tests.system.conftest import StartServer, Team, change, graphql, make_team

UNSUBSCRIBE = re.compile(r"^<(http://[^>]+/email/unsubscribe\?token=([\w-]+))>$")
PREFS = "{ notificationPreferences { email } }"
MARK_READ = "mutation { markNotificationsRead }"
ADD_MEMBER = "mutation ($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e) { id } }"
CREATE_TASK = 'mutation ($p: ID!) { createTask(projectId: $p, title: "Elsewhere") { id } }'
SET_LEVEL = """mutation ($p: ID!, $l: NotificationLevel!) {
  setProjectNotificationLevel(projectId: $p, level: $l) { level }
}"""


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, require_service: RequireService
) -> AsyncIterator[str]:
    """Overrides the system layer's PostgreSQL-only database: these run on both."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    async with postgres_database("taskbell_email") as url:
        yield url


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def email_settings(smtp: SmtpReceiver, delay: float = 1.0) -> dict[str, str]:
    return {
        "smtp_url": smtp.url,
        "email_delay_seconds": str(delay),
        "email_sweep_seconds": "0.1",
        "outbox_poll_seconds": "0.1",
        "email_retry_schedule": json.dumps([0.3] + [0.5] * 20),
    }


async def outbox_emails(database_url: str) -> list[dict[str, Any]]:
    """The email channel's outbox rows, straight from the database."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT target_id, attempts, delivered_at, failed_at FROM outbox_messages"
                    " WHERE channel = 'email' ORDER BY id"
                )
            )
            return [dict(row._mapping) for row in rows]
    finally:
        await engine.dispose()


async def until_all_delivered(database_url: str, count: int, seconds: float = 20) -> None:
    """Wait until exactly ``count`` emails are recorded as delivered and none is pending."""
    async with asyncio.timeout(seconds):
        while True:
            rows = await outbox_emails(database_url)
            if len(rows) == count and all(r["delivered_at"] is not None for r in rows):
                return
            assert len(rows) <= count, rows
            await asyncio.sleep(0.1)


def messages_in(mail: Mail) -> list[str]:
    return [line[2:].rsplit(" (", 1)[0] for line in mail.text.splitlines() if line[:2] == "- "]


async def prefs(server: TaskBellProcess, token: str) -> str:
    body = await graphql(server, token, PREFS)
    mode: str = body["data"]["notificationPreferences"]["email"]
    return mode


async def test_three_quick_changes_arrive_as_one_email_with_both_parts_and_headers(
    start_server: StartServer, smtp: SmtpReceiver, database_url: str
) -> None:
    """Three changes within the window: one email to the other member, none to the actor."""
    server = await start_server("memory://", **email_settings(smtp, delay=1.5))
    team = await make_team(server, members=2)
    for n in range(3):
        await change(server, team.tokens[0], team.task_ids[0], n)
    await smtp.wait_for(lambda s: s.to(team.emails[1]))
    await until_all_delivered(database_url, 1)
    [mail] = smtp.received
    assert mail.envelope_to == [team.emails[1]]
    assert len(messages_in(mail)) == 3
    assert "from 'In Review' to 'Completed'" in html.unescape(mail.html)
    assert mail.header("Subject") == "3 new TaskBell notifications"
    assert mail.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert UNSUBSCRIBE.match(mail.header("List-Unsubscribe"))
    # Raw on the wire, as mail clients look for it (not folded into RFC 2047 words).
    assert f"List-Unsubscribe: {mail.header('List-Unsubscribe')}\r\n".encode() in mail.raw
    assert re.fullmatch(r"<email_[0-9a-f]{24}@localhost>", mail.header("Message-ID"))
    assert mail.message.get_content_type() == "multipart/alternative"
    assert "http://127.0.0.1:8000/?project=" in mail.text


async def test_a_notification_read_within_the_window_is_not_mailed(
    start_server: StartServer, smtp: SmtpReceiver, database_url: str
) -> None:
    """Read at once: the email (the window the first change opened) carries only the second."""
    server = await start_server("memory://", **email_settings(smtp, delay=2.0))
    team = await make_team(server, members=2)
    await change(server, team.tokens[0], team.task_ids[0], 0)
    assert (await graphql(server, team.tokens[1], MARK_READ))["data"]["markNotificationsRead"] == 1
    await change(server, team.tokens[0], team.task_ids[0], 1)
    await smtp.wait_for(lambda s: s.received)
    await until_all_delivered(database_url, 1)
    [mail] = smtp.received
    [message] = messages_in(mail)
    assert "from 'In Progress' to 'In Review'" in message


async def test_a_muted_project_is_not_mailed(
    start_server: StartServer, smtp: SmtpReceiver, database_url: str
) -> None:
    """Muted in one project, ALL in another: the email lists the other project's change only."""
    server = await start_server("memory://", **email_settings(smtp))
    team = await make_team(server, members=2)
    owner, member = team.tokens
    made = await graphql(server, owner, 'mutation { createProject(name: "Heard") { id } }')
    heard = made["data"]["createProject"]["id"]
    await graphql(server, owner, ADD_MEMBER, p=heard, e=team.emails[1])
    task = (await graphql(server, owner, CREATE_TASK, p=heard))["data"]["createTask"]["id"]
    body = await graphql(server, member, SET_LEVEL, p=team.project_id, l="MUTED")
    assert body["data"]["setProjectNotificationLevel"]["level"] == "MUTED"
    await change(server, owner, team.task_ids[0], 0)
    await change(server, owner, task, 0)
    await smtp.wait_for(lambda s: s.received)
    await until_all_delivered(database_url, 1)
    [mail] = smtp.received
    assert mail.envelope_to == [team.emails[1]]
    [message] = messages_in(mail)
    assert "changed task 'Elsewhere'" in message
    assert "Heard" in mail.text
    assert "Sys" not in mail.text


async def test_an_email_waits_out_an_smtp_outage_and_arrives_once(
    start_server: StartServer, smtp: SmtpReceiver, database_url: str
) -> None:
    """The SMTP server is down when the window closes: retried with backoff, delivered once."""
    server = await start_server("memory://", **email_settings(smtp, delay=0.3))
    team = await make_team(server, members=2)
    smtp.stop()
    await change(server, team.tokens[0], team.task_ids[0], 0)
    async with asyncio.timeout(20):
        while not any(r["attempts"] >= 2 for r in await outbox_emails(database_url)):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    smtp.start()
    await smtp.wait_for(lambda s: s.received)
    await until_all_delivered(database_url, 1)
    assert len(smtp.received) == 1
    assert (await outbox_emails(database_url))[0]["attempts"] >= 3


async def test_a_permanently_refused_address_fails_without_retries_and_others_arrive(
    start_server: StartServer, smtp: SmtpReceiver, database_url: str
) -> None:
    """550 at RCPT TO: that email fails at once (no retry can help); the other member's arrives."""
    server = await start_server("memory://", **email_settings(smtp, delay=0.3))
    team = await make_team(server, members=3)
    smtp.refused.add(team.emails[1])
    await change(server, team.tokens[0], team.task_ids[0], 0)
    await smtp.wait_for(lambda s: s.received)
    async with asyncio.timeout(20):
        while True:
            rows = await outbox_emails(database_url)
            if len(rows) == 2 and all(r["delivered_at"] or r["failed_at"] for r in rows):
                break
            await asyncio.sleep(0.1)
    by_member = {str(r["target_id"]): r for r in rows}
    refused, delivered = by_member[team.user_ids[1]], by_member[team.user_ids[2]]
    assert (refused["failed_at"] is not None, refused["attempts"]) == (True, 1)
    assert delivered["delivered_at"] is not None
    assert [m.envelope_to for m in smtp.received] == [[team.emails[2]]]


async def test_a_window_survives_a_taskbell_crash_and_mails_once(
    start_server: StartServer, smtp: SmtpReceiver, database_url: str
) -> None:
    """Killed (SIGKILL) inside the window; the next start sends the email, exactly once."""
    server = await start_server("memory://", **email_settings(smtp, delay=3.0))
    team = await make_team(server, members=2)
    await change(server, team.tokens[0], team.task_ids[0], 0)
    await server.stop(signal.SIGKILL)
    assert smtp.received == []
    assert await outbox_emails(database_url) == []  # the window is still open, in the database
    await server.start()
    await smtp.wait_for(lambda s: s.received)
    await until_all_delivered(database_url, 1)
    [mail] = smtp.received
    assert len(messages_in(mail)) == 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: one process
async def test_two_processes_send_each_email_once(
    start_server: StartServer, smtp: SmtpReceiver, database_url: str
) -> None:
    """Both processes sweep every 20 ms: each member still gets one email with every change."""
    broker = database_url.replace("postgresql+asyncpg://", "postgres://", 1)
    settings = {**email_settings(smtp, delay=1.5), "email_sweep_seconds": "0.02"}
    first = await start_server(broker, **settings)
    second = await start_server(broker, **settings)
    team = await make_team(first, members=5, tasks=2)
    for n in range(4):
        await change((first, second)[n % 2], team.tokens[0], team.task_ids[n % 2], n // 2)
    await smtp.wait_for(lambda s: len(s.received) >= 4)
    await until_all_delivered(database_url, 4)
    assert sorted(m.envelope_to[0] for m in smtp.received) == sorted(team.emails[1:])
    assert all(len(messages_in(m)) == 4 for m in smtp.received)


async def test_unsubscribe_get_changes_nothing_and_the_one_click_post_turns_email_off(
    start_server: StartServer, smtp: SmtpReceiver, database_url: str
) -> None:
    """Scanners may GET the link; only the POST unsubscribes, and no sign-in is needed."""
    server = await start_server("memory://", **email_settings(smtp, delay=0.3))
    team: Team = await make_team(server, members=3)
    await change(server, team.tokens[0], team.task_ids[0], 0)
    await smtp.wait_for(lambda s: len(s.received) == 2)
    mail = smtp.to(team.emails[1])[0]
    match = UNSUBSCRIBE.match(mail.header("List-Unsubscribe"))
    assert match is not None
    link = match.group(1).replace("http://127.0.0.1:8000", server.base_url)
    async with httpx.AsyncClient() as http:
        page = await http.get(link)
        assert page.status_code == 200
        assert 'name="List-Unsubscribe" value="One-Click"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert await prefs(server, team.tokens[1]) == "IMMEDIATE"
        assert (await http.post(link, data={"other": "x"})).status_code == 400
        assert (await http.get(link + "x")).status_code == 404
        assert await prefs(server, team.tokens[1]) == "IMMEDIATE"
        done = await http.post(link, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert "unsubscribed" in done.text
    assert await prefs(server, team.tokens[1]) == "OFF"
    assert await prefs(server, team.tokens[2]) == "IMMEDIATE"
    await change(server, team.tokens[0], team.task_ids[0], 1)
    await smtp.wait_for(lambda s: len(s.received) == 3)  # the other member still gets theirs
    await until_all_delivered(database_url, 3)
    assert len(smtp.to(team.emails[1])) == 1
    assert len(smtp.to(team.emails[2])) == 2
