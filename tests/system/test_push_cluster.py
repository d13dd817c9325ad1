"""Two server processes on one PostgreSQL: one VAPID key between them, and a burst of changes
through both reaches the member's push service once per Notification, never twice."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.support.push_receiver import PushService
from tests.system.conftest import StartServer, change, graphql, make_team

SETTINGS = {
    "allow_private_destinations": "true",
    "push_retry_schedule": "[0.2, 0.5, 1, 1, 1]",
    # Both processes poll often, so each keeps reaching for rows the other just claimed.
    "outbox_poll_seconds": "0.05",
}
PUBLIC_KEY = "query { webPushPublicKey }"
REGISTER = """mutation ($endpoint: String!, $p256dh: String!, $auth: String!) {
  registerPushSubscription(endpoint: $endpoint, p256dh: $p256dh, auth: $auth)
}"""
NOTIFICATION_IDS = "query { notifications(first: 100) { edges { node { id } } } }"


async def test_two_processes_share_one_key_and_push_each_notification_once(
    start_server: StartServer, database_url: str
) -> None:
    """Both processes' first use at once: one key. 4 writers x 10 changes, alternating
    between the processes: 40 pushes, 40 notificationIds, each once, each signed by it."""
    broker = database_url.replace("postgresql+asyncpg://", "postgres://", 1)
    first = await start_server(broker, **SETTINGS)
    second = await start_server(broker, **SETTINGS)
    team = await make_team(first, members=2, tasks=4)
    owner, member = team.tokens
    keys = await asyncio.gather(
        graphql(first, member, PUBLIC_KEY), graphql(second, owner, PUBLIC_KEY)
    )
    public_key = keys[0]["data"]["webPushPublicKey"]
    assert keys[1]["data"]["webPushPublicKey"] == public_key

    service = PushService()
    await service.start()
    try:
        browser = service.browser("burst")
        done = await graphql(
            second, member, REGISTER,
            endpoint=browser.endpoint, p256dh=browser.p256dh, auth=browser.auth,
        )  # fmt: skip
        assert done["data"] == {"registerPushSubscription": True}

        async def writer(task_id: str) -> None:
            for n in range(10):
                await change((first, second)[n % 2], owner, task_id, n)

        await asyncio.gather(*(writer(t) for t in team.task_ids))
        await service.wait_for(lambda s: len(s.at("burst")) >= 40, seconds=30)
    finally:
        await service.stop()
    body = await graphql(first, member, NOTIFICATION_IDS)
    notes = {edge["node"]["id"] for edge in body["data"]["notifications"]["edges"]}
    pushed = Counter(p["notificationId"] for p in service.payloads("burst"))
    assert len(notes) == 40
    assert set(pushed) == notes
    assert set(pushed.values()) == {1}
    assert len(service.at("burst")) == 40
    assert {p.vapid_key for p in service.at("burst")} == {public_key}
