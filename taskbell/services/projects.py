"""Projects and their membership."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from taskbell import events, models, token_cache
from taskbell.db import Sessions
from taskbell.errors import BadUserInput, NotFound
from taskbell.runtime import Runtime
from taskbell.services import access, users

NAME_MAX = 200


def clean_name(value: str, what: str) -> str:
    value = value.strip()
    if not value or len(value) > NAME_MAX:
        raise BadUserInput(f"{what} must be 1 to {NAME_MAX} characters.")
    return value


async def list_projects(sessions: Sessions, user_id: int) -> list[models.Project]:
    async with sessions() as session:
        rows = await session.scalars(
            select(models.Project)
            .join(models.ProjectMember, models.ProjectMember.project_id == models.Project.id)
            .where(models.ProjectMember.user_id == user_id)
            .order_by(models.Project.id)
        )
        return list(rows)


async def find_project(sessions: Sessions, user_id: int, project_id: int) -> models.Project | None:
    """None when the project does not exist or the caller is not a member."""
    async with sessions() as session:
        if not await access.is_member(session, user_id, project_id):
            return None
        return await session.get(models.Project, project_id)


async def create_project(sessions: Sessions, user_id: int, name: str) -> models.Project:
    name = clean_name(name, "Project name")
    async with sessions.begin() as session:
        project = models.Project(name=name)
        session.add(project)
        await session.flush()
        session.add(models.ProjectMember(project_id=project.id, user_id=user_id))
    return project


async def add_member(
    sessions: Sessions, user_id: int, project_id: int, email: str
) -> models.Project:
    """Add a user by email; adding someone already there changes nothing."""
    async with sessions.begin() as session:
        await access.require_member(session, user_id, project_id)
        new_member = await users.find_by_email(session, email.strip())
        if new_member is None:
            raise NotFound("No user has this email.")
        if not await access.is_member(session, new_member.id, project_id):
            session.add(models.ProjectMember(project_id=project_id, user_id=new_member.id))
        project = await session.get_one(models.Project, project_id)
    return project


async def remove_member(
    rt: Runtime, user_id: int, project_id: int, member_id: int
) -> models.Project:
    """Remove a member; their live subscriptions to the project end, on every process."""
    async with rt.sessions.begin() as session:
        await access.require_member(session, user_id, project_id)
        removed = await session.execute(
            delete(models.ProjectMember).where(
                models.ProjectMember.project_id == project_id,
                models.ProjectMember.user_id == member_id,
            )
        )
        if removed.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("That user is not a member of this project.")
        # Under the project lock, like status changes: every event committed
        # after this carries the new version, so no subscriber can miss it.
        await session.execute(
            update(models.Project)
            .where(models.Project.id == project_id)
            .values(membership_version=models.Project.membership_version + 1)
        )
        project = await session.get_one(models.Project, project_id)
    if rt.memberships is not None:
        rt.memberships.forget_user(member_id)  # this process at once, before any reply
    revoked = events.MembershipRevoked(user_id=member_id, project_id=project_id)
    await rt.hub.publish_many(
        [
            (events.user_channel(rt.channel_prefix, member_id), revoked),
            (token_cache.token_channel(rt.channel_prefix), revoked),
        ]
    )
    return project
