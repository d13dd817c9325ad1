"""Tokens stop at their expiry; host apps' JWTs sign in users made and kept from their claims."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from taskbell import auth, models
from taskbell.app import build_runtime, running
from taskbell.errors import Unauthenticated
from taskbell.models.base import utcnow
from taskbell.runtime import Runtime
from taskbell.services import users
from tests.integration.conftest import MakeUser, settings_for
from tests.support.jwt_issuer import HS256_SECRET, ISSUER, claims, hs256


@pytest.fixture
async def jwt_rt(database_url: str) -> AsyncIterator[Runtime]:
    """A runtime on the module's database that accepts HS256 JWTs from ISSUER."""
    settings = settings_for(database_url, jwt_secret=HS256_SECRET, jwt_issuer=ISSUER)
    async with running(build_runtime(settings)) as runtime:
        yield runtime


async def _host_user(rt: Runtime, subject: str) -> models.User | None:
    async with rt.sessions() as session:
        return await session.scalar(
            select(models.User).where(models.User.issuer == ISSUER, models.User.subject == subject)
        )


async def _count(rt: Runtime, model: type[models.Base]) -> int:
    async with rt.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_an_issued_token_carries_its_expiry_into_the_identity(
    rt: Runtime, make_user: MakeUser
) -> None:
    """issue() fixes the expiry at issue; authenticate reports that very moment."""
    user = await make_user()
    before = utcnow()
    async with rt.sessions.begin() as session:
        issued = await users.issue(session, user.id, 120)
    identity = await users.authenticate(rt, issued.token)
    assert identity is not None
    assert identity.expires_at == issued.expires_at
    assert before + timedelta(seconds=120) <= issued.expires_at <= utcnow() + timedelta(seconds=120)


async def test_an_expired_token_is_refused_and_no_longer_live(
    rt: Runtime, make_user: MakeUser
) -> None:
    """Once past expires_at, authenticate says nobody (though it had the token cached) and
    live_token_ids drops the token."""
    async with rt.sessions.begin() as session:
        issued = await users.issue(session, (await make_user()).id, 2)
    identity = await users.authenticate(rt, issued.token)
    assert identity is not None
    assert await users.authenticate(rt, issued.token) == identity  # now served from the cache
    assert rt.tokens is not None
    assert len(rt.tokens) == 1
    async with rt.sessions() as session:
        assert await users.live_token_ids(session, [identity.token_id]) == {identity.token_id}
    async with asyncio.timeout(10):
        while utcnow() <= issued.expires_at:  # noqa: ASYNC110  # waiting for the clock itself
            await asyncio.sleep(0.05)
    assert await users.authenticate(rt, issued.token) is None
    async with rt.sessions() as session:
        assert await users.live_token_ids(session, [identity.token_id]) == set()


async def test_login_issues_a_token_for_the_configured_lifetime(database_url: str) -> None:
    """TASKBELL_TOKEN_TTL_SECONDS decides how long a login's token works."""
    settings = settings_for(database_url, token_ttl_seconds=90)
    async with running(build_runtime(settings)) as rt:
        user, _ = await users.create_user(rt.sessions, "ttl@example.test", "Ttl", "password123")
        issued, _ = await users.login(rt, user.email, "password123", "127.0.0.1")
    assert timedelta(seconds=85) < issued.expires_at - utcnow() <= timedelta(seconds=90)


async def test_a_jwt_creates_its_user_on_first_sight_and_reuses_it(jwt_rt: Runtime) -> None:
    """First sight makes the user (no password) and a token row expiring at exp; the same JWT
    again is that same row."""
    payload = claims(email="Grace@Host.Example.Test", name="Grace Hopper")
    token = hs256(payload)
    first = await users.authenticate(jwt_rt, token)
    again = await users.authenticate(jwt_rt, token)
    assert first is not None
    assert again is not None
    assert (first.user.email, first.user.name) == ("grace@host.example.test", "Grace Hopper")
    assert (first.user.issuer, first.user.subject) == (ISSUER, payload["sub"])
    assert first.user.password_hash == auth.NO_PASSWORD
    assert first.expires_at is not None
    assert first.expires_at.timestamp() == payload["exp"]
    assert (again.user.id, again.token_id) == (first.user.id, first.token_id)
    async with jwt_rt.sessions() as session:
        row = await session.get_one(models.ApiToken, first.token_id)
    assert row.token_hash == auth.token_digest(token)


async def test_a_later_jwt_updates_email_and_name(jwt_rt: Runtime) -> None:
    """A new JWT for the same (iss, sub) with other email and name updates that user."""
    first = await users.authenticate(jwt_rt, hs256(claims(sub="rename-me")))
    later = hs256(claims(sub="rename-me", email="new@host.example.test", name="New Name"))
    second = await users.authenticate(jwt_rt, later)
    assert first is not None
    assert second is not None
    assert second.user.id == first.user.id
    stored = await _host_user(jwt_rt, "rename-me")
    assert stored is not None
    assert (stored.email, stored.name) == ("new@host.example.test", "New Name")


async def test_first_sight_without_an_email_creates_nothing(jwt_rt: Runtime) -> None:
    """No email claim on first sight: refused, and neither a user nor a token row exists."""
    before = (await _count(jwt_rt, models.User), await _count(jwt_rt, models.ApiToken))
    assert await users.authenticate(jwt_rt, hs256(claims(sub="no-mail", drop=("email",)))) is None
    assert await _host_user(jwt_rt, "no-mail") is None
    after = (await _count(jwt_rt, models.User), await _count(jwt_rt, models.ApiToken))
    assert after == before


async def test_a_known_subject_may_omit_email_later(jwt_rt: Runtime) -> None:
    """Once the user exists, a JWT without email (or name) signs them in unchanged."""
    first = await users.authenticate(jwt_rt, hs256(claims(sub="known")))
    later = await users.authenticate(jwt_rt, hs256(claims(sub="known", drop=("email", "name"))))
    assert first is not None
    assert later is not None
    assert (later.user.id, later.user.email, later.user.name) == (
        first.user.id,
        first.user.email,
        first.user.name,
    )


async def test_a_jwt_naming_a_password_users_email_is_refused(
    jwt_rt: Runtime, make_user: MakeUser
) -> None:
    """Never linked: the host app cannot take over an existing account by naming its email,
    at first sight or later; the password user is left as it was."""
    owner = await make_user("Password Owner")
    assert await users.authenticate(jwt_rt, hs256(claims(sub="taker", email=owner.email))) is None
    assert await _host_user(jwt_rt, "taker") is None
    assert await users.authenticate(jwt_rt, hs256(claims(sub="mover"))) is not None
    assert await users.authenticate(jwt_rt, hs256(claims(sub="mover", email=owner.email))) is None
    mover = await _host_user(jwt_rt, "mover")
    assert mover is not None
    assert mover.email != owner.email
    async with jwt_rt.sessions() as session:
        assert (await session.get_one(models.User, owner.id)).name == "Password Owner"


async def test_a_revoked_jwt_is_refused_until_it_expires(jwt_rt: Runtime) -> None:
    """Logout revokes the JWT's row: the very JWT is then refused, other JWTs still work."""
    token = hs256(claims(sub="leaver"))
    identity = await users.authenticate(jwt_rt, token)
    assert identity is not None
    await users.revoke_token(jwt_rt, identity)
    assert await users.authenticate(jwt_rt, token) is None
    async with jwt_rt.sessions() as session:
        assert await users.live_token_ids(session, [identity.token_id]) == set()
    assert await users.authenticate(jwt_rt, hs256(claims(sub="leaver", jti="2"))) is not None


async def test_jwts_are_refused_when_jwt_sign_in_is_off(jwt_rt: Runtime, rt: Runtime) -> None:
    """A runtime without JWT settings refuses even a JWT another runtime recorded."""
    token = hs256(claims())
    assert await users.authenticate(jwt_rt, token) is not None
    assert await users.authenticate(rt, token) is None


async def test_concurrent_first_sights_make_one_user_and_one_token(jwt_rt: Runtime) -> None:
    """Eight requests carrying a brand-new JWT at once all succeed, as one user and one row."""
    token = hs256(claims(sub="crowd"))
    answers = await asyncio.gather(
        *(users.authenticate(jwt_rt, token) for _ in range(8)), return_exceptions=True
    )
    found = [answer for answer in answers if isinstance(answer, users.Identity)]
    assert len(found) == len(answers), [a for a in answers if a not in found]
    assert len({identity.token_id for identity in found}) == 1
    assert len({identity.user.id for identity in found}) == 1


async def test_a_jwt_user_cannot_sign_in_with_a_password(jwt_rt: Runtime) -> None:
    """They have no password: login is UNAUTHENTICATED for every guess."""
    identity = await users.authenticate(jwt_rt, hs256(claims(sub="no-password")))
    assert identity is not None
    with pytest.raises(Unauthenticated):
        await users.login(jwt_rt, identity.user.email, "", "127.0.0.1")
