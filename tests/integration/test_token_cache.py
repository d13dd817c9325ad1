"""A checked token costs no read the next time, until revocation, a Resync, expiry or the bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from taskbell import events, token_cache
from taskbell.app import build_runtime, running
from taskbell.runtime import Runtime
from taskbell.services import users
from tests.integration.conftest import MakeUser, settings_for
from tests.support.statements import counting_statements


async def _token(rt: Runtime, make_user: MakeUser) -> str:
    async with rt.sessions.begin() as session:
        return await users.issue_token(session, (await make_user()).id)


def _cache(rt: Runtime) -> token_cache.TokenCache:
    assert rt.tokens is not None
    return rt.tokens


async def test_a_token_checked_once_costs_no_statement_again(
    rt: Runtime, make_user: MakeUser
) -> None:
    """The first look-up reads (and stamps last use); the second is answered from memory."""
    token = await _token(rt, make_user)
    with counting_statements(rt) as first:
        identity = await users.authenticate(rt, token)
    with counting_statements(rt) as second:
        again = await users.authenticate(rt, token)
    assert identity is not None
    assert first
    assert second == []
    assert again == identity


async def test_logout_is_honoured_at_once_by_the_process_that_cached_the_token(
    rt: Runtime, make_user: MakeUser
) -> None:
    """revoke_token forgets the token locally before it returns, not when the broker echoes."""
    token = await _token(rt, make_user)
    identity = await users.authenticate(rt, token)
    assert identity is not None
    assert await users.authenticate(rt, token) is not None
    await users.revoke_token(rt, identity)
    assert await users.authenticate(rt, token) is None


async def test_a_resync_on_the_token_channel_empties_the_cache(
    rt: Runtime, make_user: MakeUser
) -> None:
    """A broker reconnect (or a failed publish's repair) may hide revocations: all entries go."""
    for _ in range(3):
        assert await users.authenticate(rt, await _token(rt, make_user)) is not None
    cache = _cache(rt)
    assert len(cache) == 3
    await rt.hub.publish(token_cache.token_channel(rt.channel_prefix), events.Resync())
    async with asyncio.timeout(5):
        while len(cache):  # noqa: ASYNC110  # the hub delivers in its own task
            await asyncio.sleep(0.01)


async def test_a_revocation_heard_on_the_channel_drops_that_token_only(
    rt: Runtime, make_user: MakeUser
) -> None:
    """What another process's logout publishes: this one forgets that token and keeps the rest."""
    gone, kept = await _token(rt, make_user), await _token(rt, make_user)
    revoked, other = await users.authenticate(rt, gone), await users.authenticate(rt, kept)
    assert revoked is not None
    assert other is not None
    message = events.TokenRevoked(user_id=revoked.user.id, token_id=revoked.token_id)
    await rt.hub.publish(token_cache.token_channel(rt.channel_prefix), message)
    cache = _cache(rt)
    async with asyncio.timeout(5):
        while len(cache) > 1:  # noqa: ASYNC110  # the hub delivers in its own task
            await asyncio.sleep(0.01)
    with counting_statements(rt) as statements:
        assert await users.authenticate(rt, kept) == other
    assert statements == []


@pytest.fixture
async def small_cache_rt(database_url: str) -> AsyncIterator[Runtime]:
    settings = settings_for(database_url, token_cache_size=2)
    async with running(build_runtime(settings)) as runtime:
        yield runtime


async def test_the_cache_holds_at_most_its_size_dropping_the_least_recent(
    small_cache_rt: Runtime,
) -> None:
    """Three tokens through a cache of two: the least recently used one is read again."""
    rt = small_cache_rt
    tokens = []
    for n in range(3):
        _user, issued = await users.create_user(
            rt.sessions, f"bound{n}-{id(rt)}@example.com", f"Bound {n}", "password123"
        )
        tokens.append(issued.token)
    for token in tokens:
        assert await users.authenticate(rt, token) is not None
    assert len(_cache(rt)) == 2
    with counting_statements(rt) as newest:
        await users.authenticate(rt, tokens[2])
    with counting_statements(rt) as oldest:
        await users.authenticate(rt, tokens[0])
    assert newest == []
    assert oldest != []
    assert len(_cache(rt)) == 2


async def test_a_cache_of_size_zero_reads_every_time(database_url: str) -> None:
    """TASKBELL_TOKEN_CACHE_SIZE=0 turns the cache off."""
    settings = settings_for(database_url, token_cache_size=0)
    async with running(build_runtime(settings)) as rt:
        _user, issued = await users.create_user(
            rt.sessions, f"nocache-{id(rt)}@example.com", "No Cache", "password123"
        )
        await users.authenticate(rt, issued.token)
        with counting_statements(rt) as statements:
            assert await users.authenticate(rt, issued.token) is not None
        assert statements != []
