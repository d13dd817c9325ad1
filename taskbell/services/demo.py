"""A small demo workspace; seeding it again reuses what is there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskbell import auth, models
from taskbell.config import DEFAULT_TOKEN_TTL_SECONDS
from taskbell.db import Sessions
from taskbell.services import access, users

DEMO_PASSWORD = "taskbell-demo"
DEMO_USERS = [
    ("alice@example.com", "Alice Martin"),
    ("bob@example.com", "Bob Chen"),
    ("carol@example.com", "Carol Diaz"),
]
DEMO_PROJECTS = {
    "Website Launch": (
        ["alice@example.com", "bob@example.com", "carol@example.com"],
        ["Write landing page copy", "Set up analytics", "Fix signup form validation"],
    ),
    "Mobile App": (
        ["alice@example.com", "bob@example.com"],
        ["Design onboarding screens", "Push notification opt-in"],
    ),
}


async def seed(sessions: Sessions, ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS) -> dict[str, Any]:
    """Create (or find) the demo users, projects and tasks; issue each user a fresh token."""
    async with sessions.begin() as session:
        by_email: dict[str, models.User] = {}
        out_users = []
        for email, name in DEMO_USERS:
            user = await users.find_by_email(session, email)
            if user is None:
                user = models.User(
                    email=email, name=name, password_hash=auth.hash_password(DEMO_PASSWORD)
                )
                session.add(user)
                await session.flush()
            by_email[email] = user
            issued = await users.issue(session, user.id, ttl_seconds)
            out_users.append(users.credentials(user, issued, DEMO_PASSWORD))
        out_projects = []
        for name, (emails, titles) in DEMO_PROJECTS.items():
            project = await _project(session, name, by_email[emails[0]].id)
            for email in emails:
                if not await access.is_member(session, by_email[email].id, project.id):
                    session.add(
                        models.ProjectMember(project_id=project.id, user_id=by_email[email].id)
                    )
            existing = set(
                await session.scalars(
                    select(models.Task.title).where(models.Task.project_id == project.id)
                )
            )
            for index, title in enumerate(titles):
                if title not in existing:
                    assignee = by_email[emails[index % len(emails)]]
                    session.add(
                        models.Task(project_id=project.id, title=title, assignee_id=assignee.id)
                    )
            await session.flush()
            out_projects.append({"id": str(project.id), "name": name, "members": emails})
    return {"users": out_users, "projects": out_projects}


async def _project(session: AsyncSession, name: str, owner_id: int) -> models.Project:
    """The demo project of that name its first member belongs to, or a new one."""
    found = await session.scalar(
        select(models.Project)
        .join(models.ProjectMember, models.ProjectMember.project_id == models.Project.id)
        .where(models.Project.name == name, models.ProjectMember.user_id == owner_id)
    )
    if found is not None:
        return found
    project = models.Project(name=name)
    session.add(project)
    await session.flush()
    session.add(models.ProjectMember(project_id=project.id, user_id=owner_id))
    return project
