"""Every subscriber gets every committed change once, in order: under load, outages and drops."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.graphql_ws import GraphQLSocket, graphql_socket
from tests.support.processes import RedisProcess
from tests.system.conftest import (
    SUBSCRIBE,
    StartServer,
    change,
    key,
    make_team,
    subscribed,
    until_subscribed,
)


async def _collect(socket: GraphQLSocket, count: int, seconds: float = 30) -> list[dict[str, Any]]:
    return [await socket.next_data(seconds) for _ in range(count)]


async def test_concurrent_writers_reach_every_subscriber_once_in_one_order(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """4 writers x 25 changes, 3 subscribers: 100 events each, same order; resume replays 99."""
    server = await start_server(private_redis.url)
    team = await make_team(server, members=2, tasks=4)
    async with (
        graphql_socket(server.ws_url, team.tokens[1]) as first,
        graphql_socket(server.ws_url, team.tokens[1]) as second,
        graphql_socket(server.ws_url, team.tokens[0]) as third,
    ):
        sockets = [first, second, third]
        for socket in sockets:
            await socket.subscribe("s", SUBSCRIBE, {"p": [team.project_id]})
        await until_subscribed(server, 3)
        collectors = [asyncio.create_task(_collect(s, 100)) for s in sockets]

        async def writer(task_id: str) -> None:
            for n in range(25):
                await change(server, team.tokens[0], task_id, n)

        await asyncio.gather(*(writer(t) for t in team.task_ids))
        received = await asyncio.gather(*collectors)
    orders = [[key(e) for e in events] for events in received]
    assert all(len(set(order)) == 100 for order in orders)
    assert orders[0] == orders[1] == orders[2]
    cursor = received[0][0]["taskStatusUpdated"]["cursor"]
    async with graphql_socket(server.ws_url, team.tokens[1]) as late:
        await late.subscribe("r", SUBSCRIBE, {"p": [team.project_id], "after": cursor})
        replayed = [key(e) for e in await _collect(late, 99)]
    assert replayed == orders[0][1:]


async def test_redis_outage_loses_and_repeats_nothing(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """Redis stopped while 20 changes commit, 20 more after it returns: all 40, once, in order."""
    server = await start_server(private_redis.url)
    team = await make_team(server, members=2, tasks=1)
    async with (
        graphql_socket(server.ws_url, team.tokens[1]) as transport_client,
        graphql_socket(server.ws_url, team.tokens[1]) as other_client,
    ):
        for socket in (transport_client, other_client):
            await socket.subscribe("s", SUBSCRIBE, {"p": [team.project_id]})
        await until_subscribed(server, 2)
        collectors = [
            asyncio.create_task(_collect(s, 40, seconds=60))
            for s in (transport_client, other_client)
        ]
        await private_redis.stop()
        for n in range(20):
            await change(server, team.tokens[0], team.task_ids[0], n)  # mutations keep working
        await private_redis.start()
        for n in range(20, 40):
            await change(server, team.tokens[0], team.task_ids[0], n)
        received = await asyncio.gather(*collectors)
    for events in received:
        versions = [key(e)[1] for e in events]
        assert versions == list(range(2, 42)), versions  # every change, once, in commit order


async def test_client_that_drops_resumes_from_its_cursor(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """A client whose TCP connection dies mid-stream resumes with nothing lost or repeated."""
    server = await start_server(private_redis.url)
    team = await make_team(server, members=2, tasks=1)
    async with subscribed(server, team.tokens[1], team.project_id) as socket:
        await change(server, team.tokens[0], team.task_ids[0], 0)
        seen = [await socket.next_data()]
        socket.abort()
    for n in range(1, 6):
        await change(server, team.tokens[0], team.task_ids[0], n)
    cursor = seen[-1]["taskStatusUpdated"]["cursor"]
    async with graphql_socket(server.ws_url, team.tokens[1]) as again:
        await again.subscribe("r", SUBSCRIBE, {"p": [team.project_id], "after": cursor})
        seen += await _collect(again, 5)
        await change(server, team.tokens[0], team.task_ids[0], 6)
        seen.append(await again.next_data())
    assert [key(e)[1] for e in seen] == list(range(2, 9))
