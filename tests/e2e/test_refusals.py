"""Refused requests: each carries its extensions.code, leaks nothing, and changes nothing."""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress

import pytest
import websockets
from gql.transport.exceptions import TransportQueryError
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from .support import (
    ERROR_CODES,
    TASKS,
    UPDATE_STATUS,
    WAIT_SECONDS,
    ApiFactory,
    Sockets,
    Stack,
    TaskRef,
    Team,
    assert_no_internals,
    error_codes,
    read_state,
)

PROJECT = "query ($id: ID!) { project(id: $id) { id name } }"
INLINE_BAD_STATUS = (
    "mutation ($taskId: ID!) { updateTaskStatus(taskId: $taskId, status: DONE) { id } }"
)
DEEP = """
query ($id: ID!) {
  project(id: $id) { tasks { project { tasks { project { tasks { project { tasks {
    project { tasks { id } }
  } } } } } } } }
}"""


@pytest.mark.parametrize("token", [None, "not-a-real-token"], ids=["no-token", "bad-token"])
async def test_request_without_a_valid_token_is_unauthenticated(
    team: Team, api: ApiFactory, token: str | None
) -> None:
    """A status update without a valid bearer token is refused with UNAUTHENTICATED."""
    before = await read_state(api, team)
    result = await api(token).update_status(team.task, "IN_PROGRESS")
    assert result.codes == ["UNAUTHENTICATED"]
    assert await read_state(api, team) == before


@pytest.mark.parametrize(
    "payload",
    [{}, {"authorization": "Bearer not-a-real-token"}],
    ids=["missing-token", "bad-token"],
)
async def test_websocket_init_without_a_valid_token_closes_with_4403(
    stack: Stack, subprotocol: str, payload: dict[str, str]
) -> None:
    """connection_init without a valid token is answered by closing the socket with code 4403."""
    received: list[str | bytes] = []
    async with websockets.connect(
        stack.ws_url, subprotocols=[Subprotocol(subprotocol)], open_timeout=WAIT_SECONDS
    ) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        async with asyncio.timeout(WAIT_SECONDS):
            with suppress(ConnectionClosed):
                received.extend([message async for message in socket])
    assert socket.close_code == 4403, f"closed with {socket.close_code}, after {received}"
    assert not any("connection_ack" in str(message) for message in received)


async def test_foreign_project_reads_as_missing(
    team: Team, other_team: Team, api: ApiFactory
) -> None:
    """A non-member reads someone else's project as null and its task list as NOT_FOUND."""
    as_alice = api(team.owner.token)
    project = await as_alice.execute(PROJECT, id=other_team.project_id)
    tasks = await as_alice.execute(TASKS, projectId=other_team.project_id)
    assert project.ok() == {"project": None}
    assert tasks.codes == ["NOT_FOUND"]


async def test_updating_a_foreign_task_is_forbidden(
    team: Team, other_team: Team, api: ApiFactory
) -> None:
    """Changing the status of a task in someone else's project is refused with FORBIDDEN."""
    before = await read_state(api, team, other_team)
    result = await api(team.owner.token).update_status(other_team.task, "IN_PROGRESS")
    assert result.codes == ["FORBIDDEN"]
    assert await read_state(api, team, other_team) == before


async def test_subscribing_to_a_foreign_project_is_forbidden(
    team: Team, other_team: Team, sockets: Sockets, transport: str
) -> None:
    """taskStatusUpdated on a project the caller is not a member of fails with FORBIDDEN."""
    foreign = [other_team.project_id]
    async with sockets.task_events(team.owner.token, foreign, transport) as events:
        with pytest.raises(TransportQueryError) as refused:
            await events.next()
    assert error_codes(refused.value.errors) == ["FORBIDDEN"]
    assert_no_internals(refused.value.errors)


async def test_updating_an_unknown_task_is_not_found(team: Team, api: ApiFactory) -> None:
    """Changing the status of a task id that does not exist gives NOT_FOUND."""
    before = await read_state(api, team)
    result = await api(team.owner.token).update_status(TaskRef("987654321", "?"), "COMPLETED")
    assert result.codes == ["NOT_FOUND"]
    assert await read_state(api, team) == before


@pytest.mark.parametrize(
    ("query", "status"), [(UPDATE_STATUS, "FINISHED"), (INLINE_BAD_STATUS, None)],
    ids=["variable", "literal"],
)  # fmt: skip
async def test_unknown_status_is_bad_user_input(
    team: Team, api: ApiFactory, query: str, status: str | None
) -> None:
    """A status outside TaskStatus, as a variable or a literal, fails with BAD_USER_INPUT."""
    before = await read_state(api, team)
    result = await api(team.owner.token).execute(query, taskId=team.task.id, status=status)
    assert result.codes == ["BAD_USER_INPUT"]
    assert await read_state(api, team) == before


@pytest.mark.parametrize(
    "task_id", ["abc", "99999999999999999999"], ids=["malformed", "out-of-range"]
)
async def test_unusable_task_id_is_bad_user_input(
    team: Team, api: ApiFactory, task_id: str
) -> None:
    """A task id that is not a number, or too large for one, is refused with BAD_USER_INPUT."""
    before = await read_state(api, team)
    result = await api(team.owner.token).update_status(TaskRef(task_id, "?"), "COMPLETED")
    assert result.codes == ["BAD_USER_INPUT"]
    assert await read_state(api, team) == before


async def test_over_deep_query_is_refused_with_a_code(team: Team, api: ApiFactory) -> None:
    """A query nested ten levels deep is refused with a stable code, not a masked internal error."""
    result = await api(team.owner.token).execute(DEEP, id=team.project_id)
    assert result.errors, f"the deep query was answered: {result.data}"
    assert set(result.codes) <= ERROR_CODES - {"INTERNAL"}, result.errors
    assert not any(error["message"].startswith("Unexpected error") for error in result.errors)
