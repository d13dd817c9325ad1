"""Reads follow membership, also along paths that outlive it."""

from __future__ import annotations

from taskbell.api import build_schema
from taskbell.domain import TaskStatus
from taskbell.runtime import Runtime
from taskbell.schema.context import Context
from taskbell.services import projects, tasks
from taskbell.services.users import Identity
from tests.integration.conftest import MakeTeam

THROUGH_NOTIFICATIONS = """{
  notifications { edges { node { project { name members { id } tasks { id } } } } }
}"""


async def test_old_notification_does_not_open_a_project_the_reader_left(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """After removal, a notification still names its project but shows no members or tasks."""
    team = await make_team()
    reader = team.members[0]
    await tasks.update_task_status(rt, team.owner, team.task.id, TaskStatus.IN_REVIEW, None)
    await projects.remove_member(rt, team.owner.id, team.project.id, reader.id)
    context = Context(rt, Identity(user=reader, token_id=0), "test")
    result = await build_schema().execute(THROUGH_NOTIFICATIONS, context_value=context)
    assert result.errors is None
    assert result.data is not None
    [edge] = result.data["notifications"]["edges"]
    assert edge["node"]["project"] == {"name": "Apollo", "members": [], "tasks": []}
