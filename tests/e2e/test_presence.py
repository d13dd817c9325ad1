"""Presence on one server: presenceChanged on every transport, Project.presence, setEditing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError

from .support import Api, ApiFactory, Sockets, Subscription, Team, assert_no_internals

PRESENCE_CHANGED = """subscription ($projectIds: [ID!]) {
  presenceChanged(projectIds: $projectIds) {
    projectId
    joined { id name }
    left { id name }
    editingStarted { user { id name } task { id title } since }
    editingStopped { user { id } task { id } }
  }
}"""
PROJECT_PRESENCE = """query ($id: ID!) {
  project(id: $id) { presence { online { id name } editors { user { id } task { id } } } }
}"""
CREATE_PROJECT = "mutation ($name: String!) { createProject(name: $name) { id } }"
ADD_MEMBER = """mutation ($projectId: ID!, $email: String!) {
  addProjectMember(projectId: $projectId, email: $email) { id }
}"""
SET_EDITING = "mutation ($t: ID!, $e: Boolean!) { setEditing(taskId: $t, editing: $e) }"
# Interval 1 s, grace 5 s by default: a diff is due within a couple of seconds.
DIFF_SECONDS = 8.0


async def diff_where(
    presence: Subscription, test: Any, seconds: float = DIFF_SECONDS
) -> dict[str, Any]:
    """Read diffs until one passes ``test``; fail if none does in time."""
    while True:
        diff: dict[str, Any] = (await presence.next_within(seconds))["presenceChanged"]
        if test(diff):
            return diff


def ids(users: list[dict[str, Any]]) -> set[str]:
    return {user["id"] for user in users}


async def test_presence_changed_starts_with_the_state_then_sends_joins_and_editing(
    team: Team, api: ApiFactory, sockets: Sockets, transport: str
) -> None:
    """The first message is the project's state; then a member coming online and editing."""
    variables = {"projectIds": [team.project_id]}
    async with sockets.subscribe(
        team.owner.token, PRESENCE_CHANGED, variables, transport
    ) as presence:
        first = (await presence.next())["presenceChanged"]
        assert first["projectId"] == team.project_id
        assert first["left"] == []
        assert first["editingStopped"] == []
        assert ids(first["joined"]) <= {team.owner.id}
        async with sockets.session(team.member.token):
            joined = await diff_where(presence, lambda d: team.member.id in ids(d["joined"]))
            assert {u["name"] for u in joined["joined"] if u["id"] == team.member.id} == {"Bob"}
            done = await api(team.member.token).execute(SET_EDITING, t=team.task.id, e=True)
            assert done.ok() == {"setEditing": True}
            started = await diff_where(presence, lambda d: d["editingStarted"])
            [mark] = started["editingStarted"]
            assert mark["user"] == {"id": team.member.id, "name": "Bob"}
            assert mark["task"] == {"id": team.task.id, "title": team.task.title}


async def test_a_join_in_two_projects_reaches_a_watcher_as_one_diff_per_project(
    team: Team, api: ApiFactory, sockets: Sockets
) -> None:
    """Bob shares two projects with Alice: both diffs of one pass arrive (the second used to be
    lost while Alice's subscription handed over to its group)."""
    as_owner = api(team.owner.token)
    second = (await as_owner.execute(CREATE_PROJECT, name="Second")).ok()["createProject"]["id"]
    (await as_owner.execute(ADD_MEMBER, projectId=second, email=team.member.email)).ok()
    async with sockets.subscribe(team.owner.token, PRESENCE_CHANGED, {}) as presence:
        states = [(await presence.next())["presenceChanged"] for _ in range(2)]
        assert {d["projectId"] for d in states} == {team.project_id, second}
        async with sockets.session(team.member.token):
            seen: set[str] = set()
            while seen != {team.project_id, second}:
                diff = await diff_where(presence, lambda d: team.member.id in ids(d["joined"]))
                assert diff["projectId"] not in seen
                seen.add(diff["projectId"])


async def test_project_presence_lists_online_members_and_editors(
    team: Team, api: ApiFactory, sockets: Sockets
) -> None:
    """Project.presence answers from the same state, right away."""
    async with sockets.session(team.member.token):
        as_owner = api(team.owner.token)
        online = await _poll(as_owner, team, lambda p: team.member.id in ids(p["online"]), "online")
        assert team.owner.id not in ids(online["online"])  # the owner has no live connection
        (await api(team.member.token).execute(SET_EDITING, t=team.task.id, e=True)).ok()
        editing = await _poll(as_owner, team, lambda p: p["editors"], "editors")
        mark = {"user": {"id": team.member.id}, "task": {"id": team.task.id}}
        assert editing["editors"] == [mark]
        (await api(team.member.token).execute(SET_EDITING, t=team.task.id, e=False)).ok()
        stopped = await _poll(as_owner, team, lambda p: not p["editors"], "no editors")
        assert team.member.id in ids(stopped["online"])


async def _poll(api: Api, team: Team, test: Any, what: str) -> dict[str, Any]:
    """Ask Project.presence until ``test`` holds (``what`` names it when it never does)."""
    async with asyncio.timeout(DIFF_SECONDS):
        while True:
            data = (await api.execute(PROJECT_PRESENCE, id=team.project_id)).ok()
            presence: dict[str, Any] = data["project"]["presence"]
            if test(presence):
                return presence
            await asyncio.sleep(0.05)


async def test_presence_changed_on_a_foreign_project_is_forbidden(
    team: Team, other_team: Team, sockets: Sockets, subprotocol: str
) -> None:
    """Members only: another project's presence is refused with FORBIDDEN."""
    variables = {"projectIds": [other_team.project_id]}
    async with sockets.subscribe(
        team.owner.token, PRESENCE_CHANGED, variables, subprotocol
    ) as presence:
        with pytest.raises(TransportQueryError) as refused:
            await presence.next()
    assert_no_internals(refused.value.errors)
    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_set_editing_is_for_members_of_the_tasks_project(
    team: Team, other_team: Team, api: ApiFactory
) -> None:
    """A foreign task is FORBIDDEN, an unknown one NOT_FOUND, and neither marks anyone."""
    as_owner = api(team.owner.token)
    foreign = await as_owner.execute(SET_EDITING, t=other_team.task.id, e=True)
    assert foreign.codes == ["FORBIDDEN"]
    unknown = await as_owner.execute(SET_EDITING, t="999999", e=True)
    assert unknown.codes == ["NOT_FOUND"]
    bad = await as_owner.execute(SET_EDITING, t="x", e=True)
    assert bad.codes == ["BAD_USER_INPUT"]
    theirs = await api(other_team.owner.token).execute(PROJECT_PRESENCE, id=other_team.project_id)
    assert theirs.ok()["project"]["presence"]["editors"] == []
