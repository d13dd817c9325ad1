"""Several processes behave as one: delivery, revocation and shutdown across them."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack

from tests.support.graphql_ws import GraphQLSocket, graphql_socket
from tests.support.processes import RedisProcess, TaskBellProcess
from tests.system.conftest import (
    SUBSCRIBE,
    StartServer,
    Team,
    change,
    graphql,
    key,
    make_team,
    metric,
    subscribed,
    until_subscribed,
)


async def test_change_on_one_process_reaches_subscribers_of_the_other(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """Mutation through A, subscriber on B, and the other way round."""
    first = await start_server(private_redis.url)
    second = await start_server(private_redis.url)
    team = await make_team(first, members=2, tasks=1)
    for writer, reader, n in ((first, second, 0), (second, first, 1)):
        async with subscribed(reader, team.tokens[1], team.project_id) as socket:
            await change(writer, team.tokens[0], team.task_ids[0], n)
            assert key(await socket.next_data(5)) == (team.task_ids[0], n + 2)


async def test_postgres_listen_notify_broadcast_joins_processes_too(
    start_server: StartServer, database_url: str
) -> None:
    """With postgres:// as the broker (no Redis), a change on A reaches B's subscriber."""
    broker = database_url.replace("postgresql+asyncpg://", "postgres://", 1)
    first = await start_server(broker)
    second = await start_server(broker)
    team = await make_team(first, members=2, tasks=1)
    async with subscribed(second, team.tokens[1], team.project_id) as socket:
        await change(first, team.tokens[0], team.task_ids[0], 0)
        assert key(await socket.next_data(5)) == (team.task_ids[0], 2)


async def _remove_member(server: TaskBellProcess, team: Team, user_id: str) -> None:
    """The owner (``team.tokens[0]``) removes a member through ``server``; must succeed."""
    removed = await graphql(
        server, team.tokens[0],
        "mutation ($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) { id } }",
        p=team.project_id, u=user_id,
    )  # fmt: skip
    assert "errors" not in removed, removed


async def test_member_removed_on_one_process_loses_subscription_on_the_other(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """removeProjectMember ends that member's live subscription elsewhere, with FORBIDDEN."""
    first = await start_server(private_redis.url)
    second = await start_server(private_redis.url)
    team = await make_team(first, members=2, tasks=1)
    async with subscribed(second, team.tokens[1], team.project_id) as socket:
        await _remove_member(first, team, team.user_ids[1])
        ended = await socket.receive(5)
        await change(first, team.tokens[0], team.task_ids[0], 0)
        after = await socket.receive(5)
    assert ended["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert after["type"] == "complete"  # the subscription is over: nothing more arrives


async def test_member_removed_on_one_process_is_refused_a_new_subscription_on_the_other(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """B answers the member's second subscribe from its membership cache; once A removed
    them, B's next subscribe is refused, not answered from the stale entry."""
    first = await start_server(private_redis.url)
    second = await start_server(private_redis.url)
    team = await make_team(first, members=2, tasks=1)
    async with subscribed(second, team.tokens[1], team.project_id):
        pass
    hits = await metric(second, "taskbell_membership_cache_hits_total")
    async with subscribed(second, team.tokens[1], team.project_id) as socket:
        assert await metric(second, "taskbell_membership_cache_hits_total") == hits + 1
        await _remove_member(first, team, team.user_ids[1])
        ended = await socket.receive(5)  # B heard the removal
        assert ended["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with graphql_socket(second.ws_url, team.tokens[1]) as again:
        await again.subscribe("s", SUBSCRIBE, {"p": [team.project_id]})
        refused = await again.receive(5)
    assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_logout_on_one_process_ends_subscriptions_on_the_other(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """A revoked token's live subscriptions end everywhere with UNAUTHENTICATED."""
    first = await start_server(private_redis.url)
    second = await start_server(private_redis.url)
    team = await make_team(first, members=2, tasks=1)
    async with subscribed(second, team.tokens[1], team.project_id) as socket:
        assert (await graphql(first, team.tokens[1], "mutation { logout }"))["data"] == {
            "logout": True
        }
        ended = await socket.receive(5)
    assert ended["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_sigterm_says_going_away_and_finishes_in_flight_mutations(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """Shutdown closes sockets with 1001 so clients resume elsewhere; requests complete."""
    server = await start_server(private_redis.url)
    team = await make_team(server, members=2, tasks=1)
    async with subscribed(server, team.tokens[1], team.project_id) as socket:
        mutation = asyncio.create_task(change(server, team.tokens[0], team.task_ids[0], 0))
        await asyncio.sleep(0.01)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        await mutation
        assert await socket.close_code() == 1001
    # uvicorn re-raises the SIGTERM it handled once it is done: -15 is a clean exit, -9 is not.
    assert await server.stop() in {0, -signal.SIGTERM}


async def test_hundreds_of_concurrent_subscribes_all_receive(
    start_server: StartServer, private_redis: RedisProcess
) -> None:
    """300 sockets subscribing at once over redis:// each get the next change."""
    server = await start_server(private_redis.url)
    team = await make_team(server, members=2, tasks=1)

    async def open_subscribed(stack: AsyncExitStack) -> GraphQLSocket:
        socket = await stack.enter_async_context(
            graphql_socket(server.ws_url, team.tokens[1], open_timeout=30)
        )
        await socket.subscribe("s", SUBSCRIBE, {"p": [team.project_id]})
        return socket

    async with AsyncExitStack() as stack:
        sockets = await asyncio.gather(*(open_subscribed(stack) for _ in range(300)))
        await until_subscribed(server, 300)
        await change(server, team.tokens[0], team.task_ids[0], 0)
        received = await asyncio.gather(*(s.next_data(20) for s in sockets))
    assert [key(r) for r in received] == [(team.task_ids[0], 2)] * 300
