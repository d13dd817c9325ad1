"""Every transport keeps the same promises; graphql-sse adds ids and Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from gql.transport.exceptions import TransportQueryError

from tests.support.http_streams import GRAPHQL_SSE, MULTIPART, MULTIPART_ACCEPT, sse_events

from .support import (
    EVENT_FIELDS,
    TASK_STATUS_UPDATED,
    WAIT_SECONDS,
    ApiFactory,
    Sockets,
    Stack,
    Team,
    error_codes,
)

NOTIFICATIONS_AFTER = (
    "subscription ($after: String) {"
    " notificationReceived(after: $after) { id cursor message read project { id } } }"
)
NOTIFICATION_CURSORS = "query { notifications(first: 100) { edges { node { id cursor } } } }"
LOGOUT = "mutation { logout }"


async def _next_sse(
    events: AsyncGenerator[tuple[dict[str, Any], str], None],
) -> tuple[dict[str, Any], str]:
    return await asyncio.wait_for(anext(events), WAIT_SECONDS)


async def test_sse_ids_are_cursors_and_last_event_id_resumes(
    team: Team, api: ApiFactory, http: httpx.AsyncClient, sockets: Sockets
) -> None:
    """Each graphql-sse `next` carries its cursor as id; Last-Event-ID resumes exactly after it."""
    as_alice = api(team.owner.token)
    variables = {"projectIds": [team.project_id]}
    events = sse_events(http, team.member.token, TASK_STATUS_UPDATED, variables)
    first = asyncio.ensure_future(_next_sse(events))
    await sockets.stats_when(lambda now: now["total_subscriptions"] >= 1)
    (await as_alice.update_status(team.task, "IN_PROGRESS")).ok()
    result, event_id = await first
    await events.aclose()
    assert event_id == result["data"]["taskStatusUpdated"]["cursor"]
    missed = ["IN_REVIEW", "COMPLETED"]
    for status in missed:
        (await as_alice.update_status(team.task, status)).ok()
    resumed = sse_events(http, team.member.token, TASK_STATUS_UPDATED, variables, event_id)
    replayed = [await _next_sse(resumed) for _ in missed]
    await resumed.aclose()
    statuses = [r["data"]["taskStatusUpdated"]["newStatus"] for r, _ in replayed]
    assert statuses == missed
    assert [i for _, i in replayed] == [
        r["data"]["taskStatusUpdated"]["cursor"] for r, _ in replayed
    ]


async def test_notifications_resume_after_a_cursor_on_every_transport(
    team: Team, api: ApiFactory, sockets: Sockets, transport: str
) -> None:
    """notificationReceived(after:) replays exactly the missed notifications, then live ones."""
    as_alice = api(team.owner.token)
    async with sockets.subscribe(team.member.token, NOTIFICATIONS_AFTER, {}, transport) as notes:
        (await as_alice.update_status(team.task, "IN_PROGRESS")).ok()
        first = (await notes.next())["notificationReceived"]
    for status in ["IN_REVIEW", "COMPLETED"]:
        (await as_alice.update_status(team.task, status)).ok()
    async with sockets.subscribe(
        team.member.token, NOTIFICATIONS_AFTER, {"after": first["cursor"]}, transport
    ) as notes:
        replayed = [(await notes.next())["notificationReceived"] for _ in range(2)]
        (await as_alice.update_status(team.task, "TODO")).ok()
        live = (await notes.next())["notificationReceived"]
    messages = [note["message"] for note in [first, *replayed, live]]
    assert [m.rsplit("'", 2)[-2] for m in messages] == [
        "In Progress", "In Review", "Completed", "To Do"
    ]  # fmt: skip
    assert len({note["id"] for note in [first, *replayed, live]}) == 4
    assert not any(note["read"] for note in [first, *replayed, live])


async def test_notifications_of_two_projects_arrive_complete_in_commit_order(
    make_team: object, api: ApiFactory, sockets: Sockets
) -> None:
    """Concurrent changes in two projects sharing a member: every notification once, in
    the order of its cursor, and a resume from the middle gets exactly the rest."""
    first: Team = await make_team()  # type: ignore[operator]
    second: Team = await make_team()  # type: ignore[operator]
    (await api(second.owner.token).execute(
        "mutation ($p: ID!, $e: String!) { addProjectMember(projectId: $p, email: $e) { id } }",
        p=second.project_id, e=first.member.email,
    )).ok()  # fmt: skip
    reader = first.member
    statuses = ["IN_PROGRESS", "IN_REVIEW", "COMPLETED", "TODO"] * 3
    async with sockets.subscribe(reader.token, NOTIFICATIONS_AFTER, {}) as notes:

        async def write(team: Team) -> None:
            for status in statuses:
                (await api(team.owner.token).update_status(team.task, status)).ok()

        await asyncio.gather(write(first), write(second))
        received = [(await notes.next())["notificationReceived"] for _ in range(24)]
        await notes.assert_silent(0.5)
    stored = (await api(reader.token).execute(NOTIFICATION_CURSORS)).ok()
    newest_first = [edge["node"] for edge in stored["notifications"]["edges"]]
    assert sorted(n["id"] for n in received) == sorted(n["id"] for n in newest_first)
    assert {n["project"]["id"] for n in received} == {first.project_id, second.project_id}
    middle = received[11]["cursor"]
    async with sockets.subscribe(reader.token, NOTIFICATIONS_AFTER, {"after": middle}) as notes:
        rest = [(await notes.next())["notificationReceived"] for _ in range(12)]
        await notes.assert_silent(0.5)
    assert [n["id"] for n in rest] == [n["id"] for n in received[12:]]


async def test_logout_ends_live_subscriptions_on_every_transport(
    team: Team, api: ApiFactory, sockets: Sockets, transport: str
) -> None:
    """A subscription opened with a token ends with UNAUTHENTICATED when that token logs out."""
    async with sockets.task_events(team.member.token, [team.project_id], transport) as events:
        (await api(team.owner.token).update_status(team.task, "IN_PROGRESS")).ok()
        assert (await events.next())["taskStatusUpdated"]["newStatus"] == "IN_PROGRESS"
        assert (await api(team.member.token).execute(LOGOUT)).ok() == {"logout": True}
        with pytest.raises(TransportQueryError) as ended:
            await events.next()
    assert error_codes(ended.value.errors) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("accept", ["text/event-stream", MULTIPART_ACCEPT])
async def test_http_stream_without_a_token_is_unauthenticated(
    http: httpx.AsyncClient, accept: str
) -> None:
    """A subscription over an HTTP stream with no token gets UNAUTHENTICATED, then the end."""
    body = {"query": f"subscription {{ taskStatusUpdated {{ {EVENT_FIELDS} }} }}"}
    response = await http.post("/graphql", json=body, headers={"Accept": accept})
    assert response.status_code == 200
    text = response.text
    payload = text[text.index("{") : text.rindex("}") + 1]
    if accept != "text/event-stream":
        payload = payload.split("\r\n\r\n")[-1]
        payload = json.dumps(json.loads(payload)["payload"])
    assert error_codes(json.loads(payload)["errors"]) == ["UNAUTHENTICATED"]


async def test_queries_still_work_over_an_event_stream(team: Team, http: httpx.AsyncClient) -> None:
    """A query sent with Accept: text/event-stream gets one next event, then complete."""
    events = sse_events(http, team.member.token, "query { me { email } }", {})
    results = [result async for result, _ in events]
    assert results == [{"data": {"me": {"email": team.member.email}}}]


@pytest.mark.parametrize("transport", [GRAPHQL_SSE, MULTIPART])
async def test_an_http_stream_ends_within_five_seconds_of_its_token_expiring(
    stack: Stack, team: Team, sockets: Sockets, transport: str
) -> None:
    """With no event to deliver, the expiry alone ends the stream: UNAUTHENTICATED, then
    the end of the stream (graphql-sse's complete, multipart's closing delimiter)."""
    created = await stack.cli(
        "user", "create", f"--email=short-{transport}-{team.project_id}@example.test",
        "--name=Short", "--password=long-enough-password", "--token-ttl=3",
    )  # fmt: skip
    expires_at = datetime.fromisoformat(created["expiresAt"].replace("Z", "+00:00"))
    query = "subscription { notificationReceived { id } }"
    async with sockets.subscribe(created["token"], query, {}, transport) as notes:
        with pytest.raises(TransportQueryError) as ended:
            await notes.next_within((expires_at - datetime.now(UTC)).total_seconds() + 5)
        await notes.until_ended()
    assert error_codes(ended.value.errors) == ["UNAUTHENTICATED"]
    assert datetime.now(UTC) <= expires_at + timedelta(seconds=5)
