"""Resuming taskStatusUpdated from a cursor: missed events first, then live ones."""

from __future__ import annotations

import pytest
from gql.transport.exceptions import TransportQueryError

from .support import (
    ApiFactory,
    Sockets,
    Team,
    assert_no_internals,
    error_codes,
)


async def test_resubscribing_after_a_cursor_replays_missed_events_then_live_ones(
    team: Team, api: ApiFactory, sockets: Sockets, transport: str
) -> None:
    """Bob, back after three missed changes, gets exactly those three in order, then a live one."""
    as_alice = api(team.owner.token)
    async with sockets.task_events(team.member.token, [team.project_id], transport) as events:
        (await as_alice.update_status(team.task, "IN_PROGRESS")).ok()
        cursor = (await events.next())["taskStatusUpdated"]["cursor"]
    missed = ["IN_REVIEW", "COMPLETED", "TODO"]
    for status in missed:
        (await as_alice.update_status(team.task, status)).ok()
    async with sockets.task_events(
        team.member.token, [team.project_id], transport, after=cursor
    ) as events:
        replayed = [(await events.next())["taskStatusUpdated"] for _ in missed]
        (await as_alice.update_status(team.task, "IN_PROGRESS")).ok()
        live = (await events.next())["taskStatusUpdated"]
    assert [event["newStatus"] for event in replayed] == missed
    assert [event["task"]["version"] for event in replayed] == [3, 4, 5]
    assert live["task"] == {"id": team.task.id, "status": "IN_PROGRESS", "version": 6}
    assert len({cursor, live["cursor"], *(event["cursor"] for event in replayed)}) == 5


async def test_malformed_resume_cursor_is_bad_user_input(team: Team, sockets: Sockets) -> None:
    """taskStatusUpdated with an after cursor the server never issued fails with BAD_USER_INPUT."""
    subscription = sockets.task_events(team.member.token, [team.project_id], after="not-a-cursor")
    async with subscription as events:
        with pytest.raises(TransportQueryError) as refused:
            await events.next()
    assert error_codes(refused.value.errors) == ["BAD_USER_INPUT"]
    assert_no_internals(refused.value.errors)
