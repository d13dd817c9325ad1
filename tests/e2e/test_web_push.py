"""Web Push end to end: a real server encrypts (aes128gcm), signs (VAPID) and POSTs to a real
push service on 127.0.0.1 (tests/support/push_receiver.py), which checks and decrypts every
message as a browser's push service and browser would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import RequireService
from tests.support.push_receiver import Browser, PushService

from .support import (
    STACKS,
    Api,
    ApiFactory,
    Sockets,
    Stack,
    Team,
    User,
    stack_server,
    status_message,
)

PUBLIC_URL = "https://taskbell.example.test/app"
RETRY_SCHEDULE = "[0.2, 0.3, 0.5, 1, 1]"
NOTIFICATION_RECEIVED = "subscription { notificationReceived { id message } }"
REGISTER = """mutation ($endpoint: String!, $p256dh: String!, $auth: String!) {
  registerPushSubscription(endpoint: $endpoint, p256dh: $p256dh, auth: $auth)
}"""
UNREGISTER = "mutation ($endpoint: String!) { unregisterPushSubscription(endpoint: $endpoint) }"
PUBLIC_KEY = "query { webPushPublicKey }"
ADD_MEMBER = """mutation ($p: ID!, $email: String!) {
  addProjectMember(projectId: $p, email: $email) { id }
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=STACKS)
async def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    require_service: RequireService,
) -> AsyncIterator[Stack]:
    """This module's own server: it may push to 127.0.0.1 over http, and retries quickly."""
    name: str = request.param
    workdir = tmp_path_factory.mktemp(f"push-{name}")
    async with stack_server(
        name,
        workdir,
        require_service,
        allow_private_destinations="true",
        push_retry_schedule=RETRY_SCHEDULE,
        outbox_poll_seconds="0.1",
        public_url=PUBLIC_URL,
    ) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="session")
async def database(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """The server's own database, to read what the outbox did (nothing the API shows)."""
    engine = create_async_engine(stack.env["TASKBELL_DATABASE_URL"])
    try:
        yield engine
    finally:
        await engine.dispose()


async def register(as_user: Api, browser: Browser) -> None:
    done = await as_user.execute(
        REGISTER, endpoint=browser.endpoint, p256dh=browser.p256dh, auth=browser.auth
    )
    assert done.ok() == {"registerPushSubscription": True}


async def notification_ids(as_user: Api) -> list[str]:
    """The caller's notifications, oldest first."""
    _, nodes = await as_user.notifications()
    return [node["id"] for node in reversed(nodes)]


async def outbox_rows(database: AsyncEngine, endpoint: str) -> list[dict[str, Any]]:
    """The push messages for the subscription at ``endpoint``, oldest first."""
    async with database.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT m.message_id, m.attempts, m.delivered_at, m.failed_at, m.last_error"
                " FROM outbox_messages m JOIN push_subscriptions s ON s.id = m.target_id"
                " WHERE m.channel = 'push' AND s.endpoint = :endpoint"
                # SQLite may give a new subscription the id of one removed before it.
                " AND m.created_at >= s.created_at ORDER BY m.id"
            ),
            {"endpoint": endpoint},
        )
        return [dict(row._mapping) for row in rows]


async def outbox_when(
    database: AsyncEngine,
    endpoint: str,
    accept: Callable[[list[dict[str, Any]]], bool],
    seconds: float = 10,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    rows = await outbox_rows(database, endpoint)
    while not accept(rows):
        assert time.monotonic() < deadline, f"the outbox never got there: {rows}"
        await asyncio.sleep(0.05)
        rows = await outbox_rows(database, endpoint)
    return rows


def finished(rows: list[dict[str, Any]], count: int) -> bool:
    done = [r for r in rows if r["delivered_at"] is not None or r["failed_at"] is not None]
    return len(rows) == count and len(done) == count


async def test_a_change_by_another_member_reaches_a_disconnected_member_as_one_push(
    api: ApiFactory, team: Team, push_service: PushService
) -> None:
    """Bob is not connected: Alice's change reaches his browser once, checked and decrypted,
    with title, body (the Notification's message), url and notificationId."""
    owner, member = api(team.owner.token), api(team.member.token)
    browser = push_service.browser("bob")
    await register(member, browser)
    await register(member, browser)  # idempotent: still one subscription

    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    await push_service.wait_for(lambda s: len(s.at("bob")) == 1)
    [pushed] = push_service.at("bob")
    assert pushed.problem is None
    [note_id] = await notification_ids(member)
    assert pushed.payload == {
        **(pushed.payload or {}),
        "body": status_message(team.owner, team.task, "TODO", "IN_PROGRESS"),
        "url": PUBLIC_URL,
        "notificationId": note_id,
        "projectId": team.project_id,
        "taskId": team.task.id,
    }
    assert team.project_name in (pushed.payload or {})["title"]
    assert pushed.ttl is not None
    assert pushed.ttl >= 3600
    assert pushed.claims["aud"] == push_service.origin
    assert pushed.claims["sub"] == "mailto:taskbell@localhost"
    public_key = (await member.execute(PUBLIC_KEY)).ok()["webPushPublicKey"]
    assert pushed.vapid_key == public_key

    (await owner.update_status(team.task, "COMPLETED")).ok()
    await push_service.wait_for(lambda s: len(s.at("bob")) == 2)
    assert [p["notificationId"] for p in push_service.payloads("bob")] == await notification_ids(
        member
    )


async def test_the_actor_gets_no_push_for_their_own_change(
    api: ApiFactory, team: Team, push_service: PushService
) -> None:
    """Pushes carry Notifications, and nobody is notified of their own change."""
    owner, member = api(team.owner.token), api(team.member.token)
    await register(owner, push_service.browser("alice"))
    await register(member, push_service.browser("bob"))
    (await owner.update_status(team.task, "IN_REVIEW")).ok()
    await push_service.wait_for(lambda s: len(s.at("bob")) == 1)
    (await member.update_status(team.task, "COMPLETED")).ok()
    await push_service.wait_for(lambda s: len(s.at("alice")) == 1)
    assert len(push_service.at("bob")) == 1


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_removes_the_subscription_and_nothing_more_is_sent_to_it(
    api: ApiFactory, team: Team, push_service: PushService, status: int
) -> None:
    """404/410 once: no retry, the subscription is gone; Bob's other browser still gets
    pushes."""
    owner, member = api(team.owner.token), api(team.member.token)
    gone, other = push_service.browser("gone", status), push_service.browser("other")
    await register(member, gone)
    await register(member, other)

    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    await push_service.wait_for(lambda s: len(s.at("gone")) == 1 and len(s.at("other")) == 1)
    (await owner.update_status(team.task, "COMPLETED")).ok()
    await push_service.wait_for(lambda s: len(s.at("other")) == 2)
    assert [p.answered for p in push_service.at("gone")] == [status]
    # Unregistering it now finds nothing: the 410 removed it.
    removed = await member.execute(UNREGISTER, endpoint=gone.endpoint)
    assert removed.ok() == {"unregisterPushSubscription": False}
    assert (await member.execute(UNREGISTER, endpoint=other.endpoint)).ok() == {
        "unregisterPushSubscription": True
    }


async def test_rate_limits_and_server_errors_are_retried_then_delivered_once(
    api: ApiFactory, team: Team, push_service: PushService, database: AsyncEngine
) -> None:
    """429, then 500, then 201: three attempts of one message, one push delivered."""
    owner, member = api(team.owner.token), api(team.member.token)
    browser = push_service.browser("busy", 429, 500)
    await register(member, browser)
    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    await push_service.wait_for(lambda s: len(s.at("busy")) == 3)
    [row] = await outbox_when(database, browser.endpoint, lambda rows: finished(rows, 1))
    assert [p.answered for p in push_service.at("busy")] == [429, 500, 201]
    assert all(p.problem is None for p in push_service.at("busy"))
    assert row["attempts"] == 3
    assert row["delivered_at"] is not None
    [note_id] = await notification_ids(member)
    assert [p["notificationId"] for p in push_service.payloads("busy")] == [note_id]


async def test_another_refusal_gives_up_at_once_with_the_answer_recorded(
    api: ApiFactory, team: Team, push_service: PushService, database: AsyncEngine
) -> None:
    """400 (say, a payload the service will not take): one attempt, failed, kept; the
    subscription stays and the next change is pushed."""
    owner, member = api(team.owner.token), api(team.member.token)
    browser = push_service.browser("picky", 400)
    await register(member, browser)
    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    [row] = await outbox_when(database, browser.endpoint, lambda rows: finished(rows, 1))
    assert (row["attempts"], row["delivered_at"]) == (1, None)
    assert "400" in row["last_error"]
    (await owner.update_status(team.task, "COMPLETED")).ok()
    await push_service.wait_for(lambda s: len(s.payloads("picky")) == 1)
    assert [p.answered for p in push_service.at("picky")] == [400, 201]


async def test_a_member_with_a_live_connection_gets_no_push(
    api: ApiFactory, team: Team, push_service: PushService, sockets: Sockets, database: AsyncEngine,
    transport: str,
) -> None:  # fmt: skip
    """Disconnected, Bob gets a push; connected (any transport), he gets the notification
    live and no push; disconnected again, pushes resume."""
    owner, member = api(team.owner.token), api(team.member.token)
    browser = push_service.browser("bob")
    await register(member, browser)
    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    await push_service.wait_for(lambda s: len(s.at("bob")) == 1)

    async with sockets.subscribe(team.member.token, NOTIFICATION_RECEIVED, {}, transport) as live:
        (await owner.update_status(team.task, "IN_REVIEW")).ok()
        got = (await live.next())["notificationReceived"]
        # The outbox has judged the message (skipped) while Bob was still connected.
        rows = await outbox_when(database, browser.endpoint, lambda rows: finished(rows, 2))
    assert rows[1]["delivered_at"] is None
    assert "connected" in rows[1]["last_error"]

    (await owner.update_status(team.task, "COMPLETED")).ok()
    await push_service.wait_for(lambda s: len(s.payloads("bob")) == 2)
    ids = await notification_ids(member)
    assert got["id"] == ids[1]
    assert [p["notificationId"] for p in push_service.payloads("bob")] == [ids[0], ids[2]]


async def test_push_off_sends_nothing(
    api: ApiFactory, team: Team, push_service: PushService, database: AsyncEngine
) -> None:
    """users.push_enabled false: no message at all (another member still gets theirs)."""
    owner, member = api(team.owner.token), api(team.member.token)
    browser = push_service.browser("bob")
    await register(member, browser)
    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    await push_service.wait_for(lambda s: len(s.at("bob")) == 1)

    # updateNotificationPreferences(push:) is built on another branch; its column is this.
    async with database.begin() as connection:
        await connection.execute(
            text("UPDATE users SET push_enabled = :off WHERE id = :id"),
            {"off": False, "id": int(team.member.id)},
        )
    (await owner.update_status(team.task, "IN_REVIEW")).ok()
    (await owner.update_status(team.task, "COMPLETED")).ok()
    # Turned on again, the next change is pushed: the two before were never enqueued.
    async with database.begin() as connection:
        await connection.execute(
            text("UPDATE users SET push_enabled = :on WHERE id = :id"),
            {"on": True, "id": int(team.member.id)},
        )
    (await owner.update_status(team.task, "TODO")).ok()
    await push_service.wait_for(lambda s: len(s.at("bob")) == 2)
    ids = await notification_ids(member)
    assert [p["notificationId"] for p in push_service.payloads("bob")] == [ids[0], ids[3]]
    assert len(await outbox_rows(database, browser.endpoint)) == 2


async def test_registering_an_endpoint_again_moves_it_to_the_caller(
    api: ApiFactory, team: Team, push_service: PushService, make_user: Callable[[str], Any]
) -> None:
    """One browser, Bob's then Carol's: Alice's next change pushes Carol's notification only."""
    owner, member = api(team.owner.token), api(team.member.token)
    carol_user: User = await make_user("Carol")
    (await owner.execute(ADD_MEMBER, p=team.project_id, email=carol_user.email)).ok()
    carol = api(carol_user.token)
    browser = push_service.browser("shared")
    await register(member, browser)
    await register(carol, browser)

    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    await push_service.wait_for(lambda s: len(s.at("shared")) == 1)
    [carols] = await notification_ids(carol)
    assert [p["notificationId"] for p in push_service.payloads("shared")] == [carols]
    assert (await member.execute(UNREGISTER, endpoint=browser.endpoint)).ok() == {
        "unregisterPushSubscription": False
    }


async def test_the_vapid_key_is_kept_across_a_restart(
    api: ApiFactory, team: Team, push_service: PushService, stack: Stack
) -> None:
    """Generated once and kept in the database: the same key after a restart, and pushes
    still carry it (browsers' subscriptions are bound to it)."""
    member, owner = api(team.member.token), api(team.owner.token)
    before = (await member.execute(PUBLIC_KEY)).ok()["webPushPublicKey"]
    await register(member, push_service.browser("bob"))
    await stack.stop()
    await stack.start()
    assert (await member.execute(PUBLIC_KEY)).ok()["webPushPublicKey"] == before
    (await owner.update_status(team.task, "IN_PROGRESS")).ok()
    await push_service.wait_for(lambda s: len(s.at("bob")) == 1)
    assert push_service.at("bob")[0].vapid_key == before
    assert push_service.at("bob")[0].problem is None
