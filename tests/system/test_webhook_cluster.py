"""Two server processes on one PostgreSQL share the outbox: a burst of changes through both
reaches the receiver once per change, never twice."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.support.webhook_receiver import Receiver
from tests.system.conftest import StartServer, change, graphql, make_team

SETTINGS = {
    "allow_private_destinations": "true",
    "webhook_retry_schedule": "[0.2, 0.5, 1, 1, 1]",
    # Both processes poll often, so each keeps reaching for rows the other just claimed.
    "outbox_poll_seconds": "0.05",
}
CREATE = """mutation ($p: ID!, $url: String!) {
  createWebhook(projectId: $p, url: $url) { id secret }
}"""
DELIVERIES = """query ($p: ID!) {
  webhooks(projectId: $p) { deliveries(first: 100) { id attempts deliveredAt } }
}"""


async def test_a_burst_through_two_processes_is_delivered_once_per_change(
    start_server: StartServer, database_url: str
) -> None:
    """4 writers x 10 changes, alternating between the processes: 40 requests, 40 ids."""
    broker = database_url.replace("postgresql+asyncpg://", "postgres://", 1)
    first = await start_server(broker, **SETTINGS)
    second = await start_server(broker, **SETTINGS)
    team = await make_team(first, members=2, tasks=4)
    receiver = Receiver()
    await receiver.start()
    try:
        created = await graphql(
            first, team.tokens[0], CREATE, p=team.project_id, url=receiver.url("burst")
        )
        receiver.expect("burst", created["data"]["createWebhook"]["secret"])

        async def writer(task_id: str) -> None:
            for n in range(10):
                await change((first, second)[n % 2], team.tokens[0], task_id, n)

        await asyncio.gather(*(writer(t) for t in team.task_ids))
        await receiver.wait_for(lambda r: len(r.at("burst")) >= 40, seconds=30)

        async def all_recorded() -> list[dict[str, object]]:
            for _ in range(100):
                body = await graphql(second, team.tokens[1], DELIVERIES, p=team.project_id)
                rows: list[dict[str, object]] = body["data"]["webhooks"][0]["deliveries"]
                if len(rows) == 40 and all(d["deliveredAt"] for d in rows):
                    return rows
                await asyncio.sleep(0.1)
            raise AssertionError(f"deliveries never all recorded: {rows}")

        rows = await all_recorded()
    finally:
        await receiver.stop()
    received = Counter(r.webhook_id for r in receiver.at("burst"))
    assert len(received) == 40
    assert set(received.values()) == {1}
    assert set(received) == {d["id"] for d in rows}
    assert {d["attempts"] for d in rows} == {1}
    assert all(r.verified for r in receiver.at("burst"))
