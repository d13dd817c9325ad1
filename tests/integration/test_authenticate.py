"""Bearer tokens resolve to their user until revoked; use is recorded at most once a minute."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from taskbell import models
from taskbell.models.base import utcnow
from taskbell.runtime import Runtime
from taskbell.services import users
from tests.integration.conftest import MakeUser


async def _issue(rt: Runtime, user: models.User) -> str:
    async with rt.sessions.begin() as session:
        return await users.issue_token(session, user.id)


async def _last_used(rt: Runtime, token_id: int) -> object:
    async with rt.sessions() as session:
        found = await session.get_one(models.ApiToken, token_id)
    return found.last_used_at


async def test_token_resolves_to_its_user_with_every_field(
    rt: Runtime, make_user: MakeUser
) -> None:
    """The identity carries the user as stored and the id of the very token presented."""
    user = await make_user("Grace Hopper")
    token = await _issue(rt, user)
    identity = await users.authenticate(rt, token)
    assert identity is not None
    found = identity.user
    assert (found.id, found.email, found.name, found.password_hash, found.created_at) == (
        user.id,
        user.email,
        "Grace Hopper",
        user.password_hash,
        user.created_at,
    )
    async with rt.sessions() as session:
        stored = await session.get_one(models.ApiToken, identity.token_id)
    assert stored.user_id == user.id


async def test_unknown_missing_and_revoked_tokens_resolve_to_nobody(
    rt: Runtime, make_user: MakeUser
) -> None:
    """Only a live token authenticates."""
    token = await _issue(rt, await make_user())
    identity = await users.authenticate(rt, token)
    assert identity is not None
    await users.revoke_token(rt, identity)
    assert await users.authenticate(rt, token) is None
    assert await users.authenticate(rt, "not-a-token") is None
    assert await users.authenticate(rt, None) is None


async def test_last_use_is_written_at_most_once_a_minute(rt: Runtime, make_user: MakeUser) -> None:
    """A fresh token is stamped; within the minute it is not rewritten; after it, it is."""
    token = await _issue(rt, await make_user())
    identity = await users.authenticate(rt, token)
    assert identity is not None
    first = await _last_used(rt, identity.token_id)
    assert first is not None
    await users.authenticate(rt, token)
    assert await _last_used(rt, identity.token_id) == first
    long_ago = utcnow() - users.LAST_USED_GRANULARITY - timedelta(seconds=1)
    async with rt.sessions.begin() as session:
        await session.execute(
            update(models.ApiToken)
            .where(models.ApiToken.id == identity.token_id)
            .values(last_used_at=long_ago)
        )
    # The row was rewritten behind the token cache's back; a Resync would empty it too.
    assert rt.tokens is not None
    rt.tokens.clear()
    await users.authenticate(rt, token)
    assert await _last_used(rt, identity.token_id) != long_ago
