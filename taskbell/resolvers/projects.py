"""Project queries and membership mutations."""

from __future__ import annotations

import strawberry

from taskbell.resolvers.common import parse_id
from taskbell.schema.types import CtxInfo, Project
from taskbell.services import projects


async def list_projects(info: CtxInfo) -> list[Project]:
    user = info.context.require_identity().user
    rows = await projects.list_projects(info.context.rt.sessions, user.id)
    return [Project.from_model(p) for p in rows]


async def project(info: CtxInfo, id: strawberry.ID) -> Project | None:
    user = info.context.require_identity().user
    found = await projects.find_project(info.context.rt.sessions, user.id, parse_id(id))
    return Project.from_model(found) if found is not None else None


async def create_project(info: CtxInfo, name: str) -> Project:
    user = info.context.require_identity().user
    return Project.from_model(
        await projects.create_project(info.context.rt.sessions, user.id, name)
    )


async def add_project_member(info: CtxInfo, project_id: strawberry.ID, email: str) -> Project:
    user = info.context.require_identity().user
    found = await projects.add_member(
        info.context.rt.sessions, user.id, parse_id(project_id, "projectId"), email
    )
    return Project.from_model(found)


async def remove_project_member(
    info: CtxInfo, project_id: strawberry.ID, user_id: strawberry.ID
) -> Project:
    user = info.context.require_identity().user
    found = await projects.remove_member(
        info.context.rt,
        user.id,
        parse_id(project_id, "projectId"),
        parse_id(user_id, "userId"),
    )
    return Project.from_model(found)
