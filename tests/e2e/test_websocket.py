"""The WebSocket endpoint beyond subscriptions: queries, mutations, live connection figures."""

from __future__ import annotations

from gql import GraphQLRequest

from .support import ME, UPDATE_STATUS, ApiFactory, Sockets, Team

REALTIME_STATS = """
query {
  realtimeStats { activeConnections subscribedUsers projectsWithSubscribers totalSubscriptions }
}"""


async def test_query_and_mutation_work_over_websocket(
    sockets: Sockets, team: Team, subprotocol: str
) -> None:
    """`me` and updateTaskStatus answer over the socket as they do over HTTP."""
    change = {"taskId": team.task.id, "status": "IN_REVIEW", "expectedVersion": 1}
    async with sockets.session(team.owner.token, subprotocol) as session:
        me = await session.execute(GraphQLRequest(ME))
        updated = await session.execute(GraphQLRequest(UPDATE_STATUS, variable_values=change))
    assert me["me"]["id"] == team.owner.id
    assert updated["updateTaskStatus"] == {"id": team.task.id, "status": "IN_REVIEW", "version": 2}


async def test_realtime_stats_count_a_live_subscription_until_it_closes(
    team: Team, api: ApiFactory, sockets: Sockets
) -> None:
    """Bob's open subscription adds one to each figure, in /ws/stats and realtimeStats alike."""
    before = await sockets.stats()
    async with sockets.task_events(team.member.token, [team.project_id]):
        during = await sockets.stats()
        reported = (await api(team.owner.token).execute(REALTIME_STATS)).ok()["realtimeStats"]
    after = await sockets.stats_when(lambda now: now == before)
    assert {key: during[key] - before[key] for key in before} == {
        "active_connections": 1,
        "subscribed_users": 1,
        "projects_with_subscribers": 1,
        "total_subscriptions": 1,
    }
    assert list(reported.values()) == [
        during["active_connections"],
        during["subscribed_users"],
        during["projects_with_subscribers"],
        during["total_subscriptions"],
    ]
    assert after == before
