"""Web Push at the service level, on SQLite and PostgreSQL: the VAPID key is made once
however many runtimes ask at once; a change enqueues one message per subscription in
one statement; endpoints follow the destination rule when registered and again before
every delivery, against a real push service (tests/support/push_receiver.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from taskbell import models
from taskbell.app import build_runtime, running
from taskbell.domain import TaskStatus
from taskbell.errors import BadUserInput
from taskbell.outbox import Message, Verdict
from taskbell.runtime import Runtime
from taskbell.services import push, push_sender, tasks, vapid
from tests.integration.conftest import MakeTeam, settings_for
from tests.support.push_receiver import HANG, PushService
from tests.support.statements import counting_statements


async def _stored_keys(rt: Runtime) -> list[str]:
    async with rt.sessions() as session:
        return list(await session.scalars(select(models.ServerKey.value)))


async def test_concurrent_first_use_by_two_runtimes_ends_with_one_key(database_url: str) -> None:
    """Two processes' runtimes ask at once, a third after a restart: one key for all."""
    async with (
        running(build_runtime(settings_for(database_url))) as first,
        running(build_runtime(settings_for(database_url))) as second,
    ):
        async with first.sessions.begin() as session:  # a fresh start: no key yet
            await session.execute(delete(models.ServerKey))
        keys = await asyncio.gather(first.vapid.public_key(), second.vapid.public_key())
        stored = await _stored_keys(first)
    async with running(build_runtime(settings_for(database_url))) as restarted:
        again = await restarted.vapid.public_key()
    assert keys[0] == keys[1] == again
    assert len(stored) == 1
    assert vapid.public_key_b64url(vapid.load_pem(stored[0])) == again
    assert len(again) == 87  # 65 bytes, base64url unpadded


async def test_a_configured_key_is_used_and_nothing_is_generated(database_url: str) -> None:
    """TASKBELL_VAPID_PRIVATE_KEY wins over the database."""
    pem = vapid.new_pem()
    settings = settings_for(database_url, vapid_private_key=pem)
    async with running(build_runtime(settings)) as rt:
        before = await _stored_keys(rt)
        assert await rt.vapid.public_key() == vapid.public_key_b64url(vapid.load_pem(pem))
        assert await _stored_keys(rt) == before


def test_a_key_that_is_not_p256_is_refused_at_startup(tmp_path: Any) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    with pytest.raises(ValueError, match="P-256"):
        build_runtime(settings_for(url, vapid_private_key=other.decode()))
    with pytest.raises(ValueError, match="PEM"):
        build_runtime(settings_for(url, vapid_private_key="not a key"))


async def _register(rt: Runtime, user: models.User, push_service: PushService, name: str) -> int:
    browser = push_service.browser(name)
    rt.settings.allow_private_destinations = True
    await push.register_subscription(rt, user.id, browser.endpoint, browser.p256dh, browser.auth)
    async with rt.sessions() as session:
        found = await session.scalar(
            select(models.PushSubscription.id).where(
                models.PushSubscription.endpoint == browser.endpoint
            )
        )
    assert found is not None
    return found


async def _push_messages(rt: Runtime) -> list[models.OutboxMessage]:
    async with rt.sessions() as session:
        rows = await session.scalars(
            select(models.OutboxMessage)
            .where(models.OutboxMessage.channel == push.CHANNEL)
            .order_by(models.OutboxMessage.id)
        )
        return list(rows)


async def test_a_change_enqueues_one_message_per_subscription_of_members_with_push_on(
    rt: Runtime, make_team: MakeTeam, push_service: PushService
) -> None:
    """Two browsers of one member, one of a member with push off, none for the actor: two
    messages, written by the change's transaction in one more statement."""
    team = await make_team(size=4)
    keen, off, _quiet = team.members
    first = await _register(rt, keen, push_service, "keen-1")
    second = await _register(rt, keen, push_service, "keen-2")
    await _register(rt, off, push_service, "off")
    await _register(rt, team.owner, push_service, "actor")
    async with rt.sessions.begin() as session:
        await session.execute(
            update(models.User).where(models.User.id == off.id).values(push_enabled=False)
        )
    with counting_statements(rt) as statements:
        await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_REVIEW, None)
    pushes = [s for s in statements if "outbox_messages" in s and "push_subscriptions" in s]
    assert len(pushes) == 1
    rows = await _push_messages(rt)
    assert sorted(r.target_id for r in rows) == sorted([first, second])
    async with rt.sessions() as session:
        note = await session.scalar(
            select(models.Notification.id).where(
                models.Notification.recipient_id == keen.id,
                models.Notification.task_id == team.task.id,
            )
        )
    payloads = [push_sender_payload(r.payload) for r in rows]
    assert payloads[0] == payloads[1]
    assert payloads[0]["notificationId"] == str(note)
    assert {r.message_id for r in rows} == {f"push_{note}_{first}", f"push_{note}_{second}"}


async def test_a_change_with_no_one_to_push_to_skips_the_enqueue_on_postgresql(
    rt: Runtime, make_team: MakeTeam, push_service: PushService
) -> None:
    """The only browsers belong to the actor and to a member with push off: no message, and
    on PostgreSQL no push statement either (the change's own write says nobody is
    reachable). The test above shows the same change enqueues when someone is."""
    team = await make_team(size=3)
    off, _quiet = team.members
    await _register(rt, off, push_service, "off")
    await _register(rt, team.owner, push_service, "actor")
    async with rt.sessions.begin() as session:
        await session.execute(
            update(models.User).where(models.User.id == off.id).values(push_enabled=False)
        )
    before = await _push_messages(rt)
    with counting_statements(rt) as statements:
        await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_REVIEW, None)
    pushes = [s for s in statements if "outbox_messages" in s and "push_subscriptions" in s]
    assert len(pushes) == (0 if rt.engine.dialect.name == "postgresql" else 1)
    assert len(await _push_messages(rt)) == len(before)


def push_sender_payload(text: str) -> dict[str, Any]:
    import json

    body: dict[str, Any] = json.loads(text)
    return body


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("http://127.0.0.1:9/push", "https"),
        ("https://127.0.0.1/push", "private"),
        ("https://10.1.2.3/push", "private"),
        ("https://[::1]/push", "private"),
        ("https://localhost/push", "private"),
        ("ftp://push.example/x", "http"),
    ],
)
async def test_endpoints_follow_the_destination_rule_when_registered(
    rt: Runtime, make_user: Any, endpoint: str, why: str
) -> None:
    """Without TASKBELL_ALLOW_PRIVATE_DESTINATIONS: https only, public addresses only."""
    user = await make_user()
    browser = PushService(port=9).browser("x")
    with pytest.raises(BadUserInput, match=why):
        await push.register_subscription(rt, user.id, endpoint, browser.p256dh, browser.auth)
    async with rt.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(models.PushSubscription)
            .where(models.PushSubscription.user_id == user.id)
        )
    assert count == 0


@pytest.mark.parametrize(
    ("p256dh", "auth", "why"),
    [
        ("BAAA", None, "P-256"),
        ("B" + "A" * 86, None, "P-256"),  # 65 bytes, but not a point on the curve
        (None, "AAAA", "16 bytes"),
        ("***", None, "base64url"),
        (None, "", "base64url"),
    ],
)
async def test_keys_must_be_a_p256_point_and_a_16_byte_secret(
    rt: Runtime, make_user: Any, p256dh: str | None, auth: str | None, why: str
) -> None:
    user = await make_user()
    browser = PushService(port=9).browser("x")
    rt.settings.allow_private_destinations = True
    with pytest.raises(BadUserInput, match=why):
        await push.register_subscription(
            rt,
            user.id,
            browser.endpoint,
            p256dh or browser.p256dh,
            browser.auth if auth is None else auth,
        )


async def test_the_endpoint_is_checked_again_before_every_delivery(
    rt: Runtime, make_team: MakeTeam, push_service: PushService
) -> None:
    """Registered while private destinations were allowed: delivered then; the same message
    once they are not is refused, and the push service hears nothing more."""
    team = await make_team(size=2)
    target = await _register(rt, team.members[0], push_service, "recheck")
    await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_PROGRESS, None)
    await push_service.wait_for(lambda s: len(s.payloads("recheck")) == 1)
    [row] = [r for r in await _push_messages(rt) if r.target_id == target]
    message = Message(
        row.id, row.channel, row.target_id, row.message_id, row.event_type, row.payload, 1
    )
    rt.settings.allow_private_destinations = False
    sender = push_sender.PushSender(rt)
    await sender.start()
    try:
        refused = await sender.deliver(message)
    finally:
        await sender.stop()
    assert refused.verdict is Verdict.GIVE_UP
    assert "https" in (refused.error or "")
    assert len(push_service.at("recheck")) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_shared_session_itself_refuses_private_addresses(
    rt: Runtime, push_service: PushService, host: str
) -> None:
    """A DNS answer that changes after the check (or a redirect) still cannot reach inside:
    the session's resolver and middleware apply the rule to every connection."""
    push_service.browser("direct")
    url = f"http://{host}:{push_service.port}/push/direct"
    for allowed in (True, False):  # a process of each kind: pooled connections stay apart
        rt.settings.allow_private_destinations = allowed
        sender = push_sender.PushSender(rt)
        await sender.start()
        try:
            assert sender.session is not None
            if allowed:
                async with sender.session.post(url, data=b"x") as response:
                    assert response.status == 400  # it got there (and was no valid push)
            else:
                with pytest.raises(OSError, match=r"private|Cannot connect"):  # either guard
                    await sender.session.post(url, data=b"x")
        finally:
            await sender.stop()
    assert len(push_service.at("direct")) == 1


async def test_a_member_keeps_their_newest_browsers_only(
    rt: Runtime, make_user: Any, push_service: PushService
) -> None:
    """The 11th browser replaces the oldest: a change never fans out without bound."""
    user = await make_user()
    endpoints = []
    for n in range(push.SUBSCRIPTIONS_PER_MEMBER + 1):
        await _register(rt, user, push_service, f"many-{n}")
        endpoints.append(push_service.browser(f"many-{n}").endpoint)
    async with rt.sessions() as session:
        kept = set(
            await session.scalars(
                select(models.PushSubscription.endpoint).where(
                    models.PushSubscription.user_id == user.id
                )
            )
        )
    assert kept == set(endpoints[1:])


async def test_no_answer_in_time_is_retried(
    rt: Runtime, make_team: MakeTeam, push_service: PushService
) -> None:
    """A push service that does not answer within the timeout: RETRY, with the reason."""
    team = await make_team(size=2)
    target = await _register(rt, team.members[0], push_service, "slow")
    await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_PROGRESS, None)
    await push_service.wait_for(lambda s: len(s.payloads("slow")) == 1)
    [row] = [r for r in await _push_messages(rt) if r.target_id == target]
    message = Message(
        row.id, row.channel, row.target_id, row.message_id, row.event_type, row.payload, 1
    )
    push_service.script("slow", HANG)
    sender = push_sender.PushSender(rt, timeout_seconds=0.5)
    await sender.start()
    try:
        outcome = await sender.deliver(message)
    finally:
        await sender.stop()
    assert outcome.verdict is Verdict.RETRY
    assert "Timeout" in (outcome.error or "")
