"""examples/graphql-sse: the graphql-sse npm client (distinct connections) against a real server.

Live events over SSE from another user's changes, a resume with `after:` that replays exactly
what was missed, and a bad cursor refused with BAD_USER_INPUT.
"""

from __future__ import annotations

from tests.support.node_examples import run_example

from .support import TASKS, ApiFactory, Stack, Team, status_message


async def test_graphql_sse_client_follows_changes_and_resumes_after_a_cursor(
    stack: Stack, team: Team, api: ApiFactory
) -> None:
    """Bob's graphql-sse client gets Alice's change, then after a pause exactly the two he
    missed, in order, then live ones again; a bad cursor is refused and ends the stream."""
    result = await run_example(
        "graphql-sse",
        "sse.mjs",
        {
            "TASKBELL_URL": stack.base_url,
            "SUBSCRIBER_TOKEN": team.member.token,
            "WRITER_TOKEN": team.owner.token,
            "PROJECT_ID": team.project_id,
            "TASK_ID": team.task.id,
        },
    )

    events = [result["live"], *result["replayed"], result["liveAgain"]]
    steps = [("TODO", "IN_PROGRESS"), ("IN_PROGRESS", "IN_REVIEW"), ("IN_REVIEW", "COMPLETED")]
    steps.append(("COMPLETED", "TODO"))
    assert [e["message"] for e in events] == [
        status_message(team.owner, team.task, old, new) for old, new in steps
    ]
    assert [(e["oldStatus"], e["newStatus"]) for e in events] == steps
    assert [e["task"] for e in events] == [
        {"id": team.task.id, "status": new, "version": version}
        for (_, new), version in zip(steps, [2, 3, 4, 5], strict=True)
    ]
    assert {e["updatedBy"]["id"] for e in events} == {team.owner.id}
    cursors = [e["cursor"] for e in events]
    assert all(cursors), cursors
    assert len(set(cursors)) == len(cursors), cursors
    assert result["refused"] == {"codes": ["BAD_USER_INPUT"], "ended": True}

    tasks = (await api(team.owner.token).execute(TASKS, projectId=team.project_id)).ok()["tasks"]
    assert tasks == [{"id": team.task.id, "status": "TODO", "version": 5}]
