"""Membership checks every read, write and subscription goes through."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from taskbell import models
from taskbell.errors import Forbidden

if TYPE_CHECKING:
    from taskbell.runtime import Runtime

NOT_A_MEMBER = "You are not a member of this project."


async def is_member(session: AsyncSession, user_id: int, project_id: int) -> bool:
    found = await session.get(models.ProjectMember, (project_id, user_id))
    return found is not None


_MEMBERSHIPS = models.Base.metadata.tables[models.ProjectMember.__tablename__]
# Built once: every subscribe runs it, and building a select costs more than running it.
_PROJECT_IDS_OF_USER = (
    select(_MEMBERSHIPS.c.project_id)
    .where(_MEMBERSHIPS.c.user_id == bindparam("user_id"))
    .order_by(_MEMBERSHIPS.c.project_id)
)


async def member_project_ids(db: AsyncSession | AsyncConnection, user_id: int) -> list[int]:
    return list(await db.scalars(_PROJECT_IDS_OF_USER, {"user_id": user_id}))


async def membership_versions(session: AsyncSession, project_ids: list[int]) -> dict[int, int]:
    rows = await session.execute(
        select(models.Project.id, models.Project.membership_version).where(
            models.Project.id.in_(project_ids)
        )
    )
    return dict(rows.all())


async def require_member(session: AsyncSession, user_id: int, project_id: int) -> None:
    """Writes and subscriptions to a foreign (or unknown) project are FORBIDDEN."""
    if not await is_member(session, user_id, project_id):
        raise Forbidden(NOT_A_MEMBER)


async def subscription_scope(rt: Runtime, user_id: int, project_ids: list[int] | None) -> list[int]:
    """The projects a subscription covers: the given ones, or all of the caller's.

    Given ones the process's membership cache vouches for cost no read
    (``taskbell.membership_cache``); "all of mine" always reads.
    """
    cache = rt.memberships
    if project_ids is not None and cache is not None and cache.covers(user_id, project_ids):
        rt.metrics.membership_cache_hits.inc()
        return sorted(set(project_ids))
    generation = cache.generation if cache is not None else 0
    async with rt.sessions.connect() as connection:
        mine = await member_project_ids(connection, user_id)
    if cache is not None:
        cache.put(user_id, mine, generation)
    if project_ids is None:
        return mine
    if not set(project_ids) <= set(mine):
        raise Forbidden("You are not a member of every requested project.")
    return sorted(set(project_ids))


async def members_of_all(
    session: AsyncSession, user_ids: Collection[int], project_ids: Collection[int]
) -> set[int]:
    """Those of ``user_ids`` who belong to every one of ``project_ids``."""
    if not project_ids:
        return set(user_ids)
    rows = await session.scalars(
        select(models.ProjectMember.user_id)
        .where(
            models.ProjectMember.user_id.in_(user_ids),
            models.ProjectMember.project_id.in_(project_ids),
        )
        .group_by(models.ProjectMember.user_id)
        .having(func.count() == len(set(project_ids)))
    )
    return set(rows)
