"""List fields resolve in a bounded number of queries, however long the lists are."""

from __future__ import annotations

from taskbell.api import build_schema
from taskbell.domain import TaskStatus
from taskbell.runtime import Runtime
from taskbell.schema.context import Context
from taskbell.services import projects, tasks
from taskbell.services.users import Identity
from tests.integration.conftest import MakeTeam
from tests.support.statements import counting_statements

BOARD = """{
  projects {
    name
    members { name }
    tasks { title project { name } assignee { name } updatedBy { name } }
  }
  notifications(first: 50) {
    edges { node { message task { title } actor { name } project { name } } }
  }
}"""


async def _board_statements(
    rt: Runtime, team_size: int, task_count: int, make_team: MakeTeam
) -> int:
    team = await make_team(size=team_size)
    other = await projects.create_project(rt.sessions, team.owner.id, "Second")
    for member in team.members:
        await projects.add_member(rt.sessions, team.owner.id, other.id, member.email)
    for n in range(task_count):
        for project_id in (team.project.id, other.id):
            created = await tasks.create_task(
                rt, team.owner.id, project_id, f"Task {n}", team.members[0].id
            )
            await tasks.update_task_status(rt, team.owner, created.id, TaskStatus.IN_PROGRESS, None)
    viewer = team.members[0]
    context = Context(rt, Identity(user=viewer, token_id=0), "test")
    with counting_statements(rt) as statements:
        result = await build_schema().execute(BOARD, context_value=context)
    assert result.errors is None
    return len(statements)


async def test_board_query_cost_does_not_grow_with_the_data(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """Projects, members, tasks and notifications with their relations: no N+1."""
    small = await _board_statements(rt, team_size=2, task_count=2, make_team=make_team)
    large = await _board_statements(rt, team_size=6, task_count=12, make_team=make_team)
    # One query per field path (plus BEGIN per loader session on SQLite), whatever
    # the sizes; an N+1 would cost 70+ here. Exact counts may differ by a batch or
    # two, depending on how the event loop happens to interleave the loaders.
    assert small <= 20
    assert large <= 20
