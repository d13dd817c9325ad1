"""Grouped subscriptions: one execution per event per group, the right bytes to each member."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from taskbell.app import create_app
from taskbell.domain import TaskStatus
from taskbell.realtime.groups import Groups
from taskbell.runtime import Runtime
from taskbell.services import projects, tasks, users
from taskbell.web.server import server_config
from tests.integration.conftest import MakeTeam, Team, settings_for
from tests.support.graphql_ws import graphql_socket
from tests.support.processes import HOST, free_port

SUBSCRIPTION = """subscription ($p: [ID!]) {
  taskStatusUpdated(projectIds: $p) {
    cursor message newStatus task { id version project { name } }
  }
}"""


@dataclass
class Server:
    url: str
    groups: Groups
    runtime: Runtime


@pytest.fixture(params=["direct-frames", "asgi-send"])
async def server(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Server]:
    """The real app under uvicorn in this process, so the test can look at its groups.

    Served as ``taskbell serve`` serves it (grouped events written pre-framed)
    and under plain uvicorn (grouped events through the ordinary ASGI send).
    """
    app = create_app(settings_for(database_url))
    port = free_port()
    if request.param == "direct-frames":
        config = server_config(app, HOST, port, log_level="warning")
    else:
        config = uvicorn.Config(app, host=HOST, port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    serving = asyncio.create_task(uvicorn_server.serve())
    while not uvicorn_server.started:  # noqa: ASYNC110  # uvicorn offers no event for this
        await asyncio.sleep(0.02)
    assert app.state.groups is not None
    try:
        yield Server(f"ws://{HOST}:{port}/graphql", app.state.groups, app.state.runtime)
    finally:
        uvicorn_server.should_exit = True
        await serving


async def _token(server: Server, team: Team, index: int) -> str:
    rt = server.runtime
    member = team.members[index] if index >= 0 else team.owner
    async with rt.sessions.begin() as session:
        return await users.issue_token(session, member.id)


async def _eventually(condition: Callable[[], bool], seconds: float = 15) -> None:
    """Poll until ``condition`` holds: a loaded machine may take a while to subscribe."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110  # the server offers no event for this
            await asyncio.sleep(0.05)


async def _subscribed(server: Server, members: int) -> None:
    """Wait until the groups hold ``members`` members, counted once their streams listen."""
    await _eventually(
        lambda: (
            sum(len(g.members) for g in server.groups.groups) == members
            and server.runtime.stats.snapshot().total_subscriptions == members
        )
    )


async def _change(server: Server, team: Team, status: TaskStatus) -> None:
    await tasks.update_task_status(server.runtime, team.owner, team.task.id, status, None)


async def test_identical_subscriptions_share_one_group_and_get_their_own_ids(
    server: Server, make_team: MakeTeam
) -> None:
    """Three operations with different ids, one document: one group, identical payloads."""
    team = await make_team()
    token = await _token(server, team, 0)
    variables = {"p": [str(team.project.id)]}
    async with (
        graphql_socket(server.url, token) as first,
        graphql_socket(server.url, token) as second,
    ):
        await first.subscribe("a", SUBSCRIPTION, variables)
        await first.subscribe("b", SUBSCRIPTION, variables)
        await second.subscribe("c", SUBSCRIPTION, variables)
        await _subscribed(server, 3)
        assert len(server.groups.groups) == 1
        await _change(server, team, TaskStatus.IN_REVIEW)
        frames = [await first.receive(), await first.receive(), await second.receive()]
    assert sorted(f["id"] for f in frames) == ["a", "b", "c"]
    assert len({json.dumps(f["payload"], sort_keys=True) for f in frames}) == 1
    event = frames[0]["payload"]["data"]["taskStatusUpdated"]
    assert (
        event["message"] == "Owner Person changed task 'Write the docs' from 'To Do' to 'In Review'"
    )
    assert event["task"]["project"]["name"] == "Apollo"


async def test_different_variables_form_different_groups(
    server: Server, make_team: MakeTeam
) -> None:
    """projectIds given or omitted are different groups; both deliver the change."""
    team = await make_team()
    token = await _token(server, team, 0)
    async with graphql_socket(server.url, token) as socket:
        await socket.subscribe("one", SUBSCRIPTION, {"p": [str(team.project.id)]})
        await socket.subscribe("all", SUBSCRIPTION, {"p": None})
        await _subscribed(server, 2)
        assert len(server.groups.groups) == 2
        await _change(server, team, TaskStatus.COMPLETED)
        ids = sorted([(await socket.receive())["id"], (await socket.receive())["id"]])
    assert ids == ["all", "one"]


async def test_legacy_and_new_protocol_members_each_get_their_frames(
    server: Server, make_team: MakeTeam
) -> None:
    """One group serves graphql-transport-ws (`next`) and graphql-ws (`data`) members."""
    team = await make_team()
    token = await _token(server, team, 0)
    variables = {"p": [str(team.project.id)]}
    async with (
        graphql_socket(server.url, token) as modern,
        connect(server.url, subprotocols=["graphql-ws"]) as legacy,  # type: ignore[list-item]
    ):
        await legacy.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        assert json.loads(await legacy.recv())["type"] == "connection_ack"
        await legacy.send(
            json.dumps(
                {
                    "id": "old",
                    "type": "start",
                    "payload": {"query": SUBSCRIPTION, "variables": variables},
                }
            )
        )
        await modern.subscribe("new", SUBSCRIPTION, variables)
        await _subscribed(server, 2)
        assert len(server.groups.groups) == 1
        await _change(server, team, TaskStatus.IN_PROGRESS)
        modern_frame = await modern.receive()
        legacy_frame = await _next_data(legacy)
    assert (modern_frame["type"], modern_frame["id"]) == ("next", "new")
    assert (legacy_frame["type"], legacy_frame["id"]) == ("data", "old")
    assert modern_frame["payload"] == legacy_frame["payload"]


async def _next_data(legacy: ClientConnection) -> dict[str, object]:
    while True:
        frame: dict[str, object] = json.loads(await asyncio.wait_for(legacy.recv(), 5))
        if frame["type"] != "ka":
            return frame


async def test_member_leaving_mid_stream_leaves_the_others_served(
    server: Server, make_team: MakeTeam
) -> None:
    """complete removes one member; the group lives on until its last member leaves."""
    team = await make_team()
    token = await _token(server, team, 0)
    variables = {"p": [str(team.project.id)]}
    async with (
        graphql_socket(server.url, token) as stays,
        graphql_socket(server.url, token) as leaves,
    ):
        await stays.subscribe("s", SUBSCRIPTION, variables)
        await leaves.subscribe("l", SUBSCRIPTION, variables)
        await _subscribed(server, 2)
        await _change(server, team, TaskStatus.IN_PROGRESS)
        await stays.receive()
        await leaves.receive()
        await leaves.send({"id": "l", "type": "complete"})
        await _subscribed(server, 1)
        await _change(server, team, TaskStatus.IN_REVIEW)
        second = await stays.receive()
        assert second["payload"]["data"]["taskStatusUpdated"]["task"]["version"] == 3
        assert len(server.groups.groups) == 1
        await stays.send({"id": "s", "type": "complete"})
        await _eventually(lambda: not server.groups.groups)
    assert server.groups.groups == []


RESUME = SUBSCRIPTION.replace("($p: [ID!])", "($p: [ID!], $after: String)").replace(
    "projectIds: $p)", "projectIds: $p, after: $after)"
)


async def test_different_users_share_a_group_and_lose_access_alone(
    server: Server, make_team: MakeTeam
) -> None:
    """Members' tokens differ, the payload does not; a removed member's stream ends alone."""
    team = await make_team()
    stays_token, removed_token = await _token(server, team, 0), await _token(server, team, 1)
    variables = {"p": [str(team.project.id)]}
    async with (
        graphql_socket(server.url, stays_token) as stays,
        graphql_socket(server.url, removed_token) as removed,
    ):
        await stays.subscribe("s", SUBSCRIPTION, variables)
        await removed.subscribe("r", SUBSCRIPTION, variables)
        await _subscribed(server, 2)
        assert len(server.groups.groups) == 1
        await _change(server, team, TaskStatus.IN_PROGRESS)
        assert await stays.next_data() == await removed.next_data()
        await projects.remove_member(
            server.runtime, team.owner.id, team.project.id, team.members[1].id
        )
        ended = await removed.receive()
        assert ended["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert (await removed.receive())["type"] == "complete"
        await _change(server, team, TaskStatus.IN_REVIEW)
        later = await stays.next_data()
        assert later["taskStatusUpdated"]["newStatus"] == "IN_REVIEW"
        with pytest.raises(TimeoutError):
            await removed.receive(0.5)


async def test_resume_hands_over_to_the_group(server: Server, make_team: MakeTeam) -> None:
    """With after:, the member replays on its own, then shares the group's bytes.

    Clients resume with the document they first subscribed with (``after``
    null at first), so both are one group.
    """
    team = await make_team()
    token = await _token(server, team, 0)
    variables = {"p": [str(team.project.id)]}
    async with graphql_socket(server.url, token) as live:
        await live.subscribe("live", RESUME, {**variables, "after": None})
        await _subscribed(server, 1)
        await _change(server, team, TaskStatus.IN_PROGRESS)
        cursor = (await live.next_data())["taskStatusUpdated"]["cursor"]
        await _change(server, team, TaskStatus.IN_REVIEW)
        await live.next_data()
        async with graphql_socket(server.url, token) as resumed:
            await resumed.subscribe("r", RESUME, {**variables, "after": cursor})
            replayed = await resumed.next_data()
            assert replayed["taskStatusUpdated"]["newStatus"] == "IN_REVIEW"
            assert len(server.groups.groups) == 1
            await _change(server, team, TaskStatus.COMPLETED)
            assert await resumed.next_data() == await live.next_data()


async def test_resume_during_a_burst_misses_nothing_and_repeats_nothing(
    server: Server, make_team: MakeTeam
) -> None:
    """Changes committed while a member catches up reach it exactly once, in order."""
    team = await make_team()
    token = await _token(server, team, 0)
    variables = {"p": [str(team.project.id)]}
    statuses = [TaskStatus.IN_PROGRESS, TaskStatus.TODO] * 10
    async with graphql_socket(server.url, token) as live:
        await live.subscribe("live", RESUME, {**variables, "after": None})
        await _subscribed(server, 1)
        await _change(server, team, TaskStatus.IN_REVIEW)
        cursor = (await live.next_data())["taskStatusUpdated"]["cursor"]
        async with graphql_socket(server.url, token) as resumed:
            burst = asyncio.create_task(_changes(server, team, statuses))
            await resumed.subscribe("r", RESUME, {**variables, "after": cursor})
            await burst
            seen = [await resumed.next_data() for _ in statuses]
            expected = [await live.next_data() for _ in statuses]
            with pytest.raises(TimeoutError):
                await resumed.receive(0.5)
    assert [e["taskStatusUpdated"]["task"]["version"] for e in seen] == list(range(3, 23))
    assert seen == expected


async def _changes(server: Server, team: Team, statuses: list[TaskStatus]) -> None:
    for status in statuses:
        await _change(server, team, status)
        await asyncio.sleep(0)
