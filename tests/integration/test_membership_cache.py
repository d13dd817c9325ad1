"""A subscribe's membership check costs no read the second time, and is never stale for
additions (always read) nor for removals (dropped at once here, on the channel elsewhere)."""

from __future__ import annotations

import asyncio

import pytest

from taskbell import events, token_cache
from taskbell.errors import Forbidden
from taskbell.membership_cache import MembershipCache
from taskbell.runtime import Runtime
from taskbell.services import access, projects
from tests.integration.conftest import MakeTeam, MakeUser
from tests.support.statements import counting_statements


def _cache(rt: Runtime) -> MembershipCache:
    assert rt.memberships is not None
    return rt.memberships


async def test_a_checked_membership_costs_no_statement_again(
    rt: Runtime, make_team: MakeTeam
) -> None:
    team = await make_team(size=2)
    member = team.members[0]
    with counting_statements(rt) as first:
        assert await access.subscription_scope(rt, member.id, [team.project.id]) == [
            team.project.id
        ]
    with counting_statements(rt) as second:
        assert await access.subscription_scope(rt, member.id, [team.project.id]) == [
            team.project.id
        ]
    assert first
    assert second == []


async def test_a_project_joined_after_the_read_is_read_again_and_allowed(
    rt: Runtime, make_team: MakeTeam, make_user: MakeUser
) -> None:
    """The cache only says yes: a project outside its entry goes to the database."""
    team = await make_team(size=2)
    newcomer = await make_user("Newcomer")
    other = await projects.create_project(rt.sessions, team.owner.id, "Other")
    await projects.add_member(rt.sessions, team.owner.id, other.id, newcomer.email)
    assert await access.subscription_scope(rt, newcomer.id, [other.id]) == [other.id]
    with pytest.raises(Forbidden):  # not (yet) a member: read, and refused
        await access.subscription_scope(rt, newcomer.id, [team.project.id])
    await projects.add_member(rt.sessions, team.owner.id, team.project.id, newcomer.email)
    with counting_statements(rt) as statements:
        scope = await access.subscription_scope(rt, newcomer.id, [team.project.id, other.id])
    assert scope == sorted([team.project.id, other.id])
    assert statements
    with counting_statements(rt) as everything:  # "all my projects" always reads
        assert await access.subscription_scope(rt, newcomer.id, None) == scope
    assert everything


async def test_a_removal_is_honoured_at_once_by_the_process_that_removed(
    rt: Runtime, make_team: MakeTeam
) -> None:
    team = await make_team(size=2)
    member = team.members[0]
    await access.subscription_scope(rt, member.id, [team.project.id])
    await projects.remove_member(rt, team.owner.id, team.project.id, member.id)
    with pytest.raises(Forbidden):
        await access.subscription_scope(rt, member.id, [team.project.id])


async def test_a_removal_heard_on_the_token_channel_drops_that_user_only(
    rt: Runtime, make_team: MakeTeam
) -> None:
    """What another process's removeProjectMember publishes."""
    team = await make_team(size=3)
    gone, kept = team.members
    for user in (gone, kept):
        await access.subscription_scope(rt, user.id, [team.project.id])
    cache = _cache(rt)
    assert len(cache) == 2
    message = events.MembershipRevoked(user_id=gone.id, project_id=team.project.id)
    await rt.hub.publish(token_cache.token_channel(rt.channel_prefix), message)
    async with asyncio.timeout(5):
        while len(cache) > 1:  # noqa: ASYNC110  # the hub delivers in its own task
            await asyncio.sleep(0.01)
    assert cache.covers(kept.id, [team.project.id])
    assert not cache.covers(gone.id, [team.project.id])
