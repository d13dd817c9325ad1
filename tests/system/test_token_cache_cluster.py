"""Each process caches tokens it checked; a logout on any process is honoured on all at once."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from tests.support.graphql_ws import SUBPROTOCOL, GraphQLSocket
from tests.support.processes import RedisProcess, TaskBellProcess
from tests.system.conftest import StartServer, graphql, make_team, metric

ME = "{ me { id } }"


async def _cache_hits(server: TaskBellProcess) -> float:
    return await metric(server, "taskbell_token_cache_hits_total")


async def test_logout_on_one_process_is_refused_at_once_by_the_other_that_cached_it(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """B answers the token from its cache; after logout on A, B's very next request and next
    socket with that token are refused."""
    first = await start_server(private_redis.url)
    second = await start_server(private_redis.url)
    team = await make_team(first, members=2, tasks=1)
    token = team.tokens[1]
    before = await _cache_hits(second)
    for _ in range(2):
        assert (await graphql(second, token, ME))["data"]["me"]["id"] == team.user_ids[1]
    assert await _cache_hits(second) > before  # the second look-up on B was a cache hit
    assert (await graphql(first, token, "mutation { logout }"))["data"] == {"logout": True}
    refused = await graphql(second, token, ME)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with connect(second.ws_url, subprotocols=[SUBPROTOCOL]) as connection:  # type: ignore[list-item]
        socket = GraphQLSocket(connection)
        await socket.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert await socket.close_code() == 4403
    # The other member's token, cached on B as well, still works there.
    assert (await graphql(second, team.tokens[0], ME))["data"]["me"]["id"] == team.user_ids[0]


async def test_a_broker_restart_empties_every_process_cache(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """While the broker is away revocations could be missed: the cache is bypassed, and emptied
    when the link is back (the Resync)."""
    server = await start_server(private_redis.url)
    team = await make_team(server, members=1, tasks=0)
    token = team.tokens[0]
    for _ in range(2):
        await graphql(server, token, ME)
    await private_redis.stop()
    async with asyncio.timeout(10):  # until the server notices the link is gone
        while True:
            hits = await _cache_hits(server)
            assert (await graphql(server, token, ME))["data"]["me"]["id"] == team.user_ids[0]
            if await _cache_hits(server) == hits:
                break  # answered by the database: the cache is bypassed
            await asyncio.sleep(0.05)
    for _ in range(3):  # and stays bypassed while the broker is away
        await graphql(server, token, ME)
    assert await _cache_hits(server) == hits
    await private_redis.start()
    await server.wait_ready()
    async with asyncio.timeout(15):  # cached anew once the link (and its Resync) is back
        while await _cache_hits(server) == hits:
            assert (await graphql(server, token, ME))["data"]["me"]["id"] == team.user_ids[0]
            await asyncio.sleep(0.05)
