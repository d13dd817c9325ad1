"""Accounts, sign-in and bearer tokens."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskbell import auth, events, models
from taskbell.db import Sessions
from taskbell.errors import BadUserInput, Unauthenticated
from taskbell.models.base import utcnow
from taskbell.runtime import Runtime

# Writing last_used_at on every request would turn every read into a write.
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class Identity:
    """Who is calling, and with which token (so logout can revoke exactly it)."""

    user: models.User
    token_id: int
    # When the credential stops working; live subscriptions end then (None: never).
    expires_at: datetime | None = None


def credentials(user: models.User, token: str, password: str) -> dict[str, str]:
    """What the CLI prints for a user it created or seeded."""
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "token": token,
        "password": password,
    }


def _clean_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise BadUserInput("A valid email address is required.")
    return email


async def create_user(
    sessions: Sessions, email: str, name: str, password: str
) -> tuple[models.User, str]:
    """Register a user and issue their first token."""
    email, name = _clean_email(email), name.strip()
    if not name or len(name) > 200:
        raise BadUserInput("Name must be 1 to 200 characters.")
    if len(password) < 8:
        raise BadUserInput("Password must be at least 8 characters.")
    async with sessions.begin() as session:
        if await find_by_email(session, email) is not None:
            raise BadUserInput("A user with this email already exists.")
        user = models.User(email=email, name=name, password_hash=auth.hash_password(password))
        session.add(user)
        await session.flush()
        token = await issue_token(session, user.id)
    return user, token


async def find_by_email(session: AsyncSession, email: str) -> models.User | None:
    return await session.scalar(select(models.User).where(models.User.email == email.lower()))


async def issue_token(session: AsyncSession, user_id: int) -> str:
    token = auth.new_token()
    session.add(models.ApiToken(user_id=user_id, token_hash=auth.token_digest(token)))
    await session.flush()
    return token


async def login(rt: Runtime, email: str, password: str, address: str) -> tuple[str, models.User]:
    """Check the password (rate-limited per email and per address) and issue a token."""
    await rt.throttle.check_login(email, address)
    async with rt.sessions() as session:
        user = await find_by_email(session, email.strip())
    password_hash = user.password_hash if user is not None else None
    if user is None or not auth.verify_password(password_hash, password):
        await rt.throttle.login_failed(email, address)
        raise Unauthenticated("Invalid email or password.")
    async with rt.sessions.begin() as session:
        return await issue_token(session, user.id), user


_TABLES = models.Base.metadata.tables
_TOKENS = _TABLES[models.ApiToken.__tablename__]
_USERS = _TABLES[models.User.__tablename__]
# Every request runs this: Core, one joined statement, no ORM identity map.
_LIVE_TOKEN = (
    select(
        _TOKENS.c.id.label("token_id"),
        _TOKENS.c.last_used_at,
        _USERS.c.id.label("user_id"),
        _USERS.c.email,
        _USERS.c.name,
        _USERS.c.password_hash,
        _USERS.c.created_at,
    )
    .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.token_hash == bindparam("digest"), _TOKENS.c.revoked_at.is_(None))
)
_TOUCH_TOKEN = (
    update(_TOKENS)
    .where(_TOKENS.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)


async def authenticate(sessions: Sessions, token: str | None) -> Identity | None:
    """Resolve a bearer token to its live user, or None."""
    if not token:
        return None
    async with sessions.connect() as connection:
        row = (await connection.execute(_LIVE_TOKEN, {"digest": auth.token_digest(token)})).first()
    if row is None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
        async with sessions.transaction() as connection:
            await connection.execute(_TOUCH_TOKEN, {"token_id": row.token_id, "now": now})
    user = models.User(
        id=row.user_id,
        email=row.email,
        name=row.name,
        password_hash=row.password_hash,
        created_at=row.created_at,
    )
    return Identity(user=user, token_id=row.token_id)


async def revoke_token(rt: Runtime, identity: Identity) -> None:
    """Revoke the token; subscriptions opened with it end, on every process."""
    async with rt.sessions.begin() as session:
        await session.execute(
            update(models.ApiToken)
            .where(models.ApiToken.id == identity.token_id, models.ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    await rt.hub.publish(
        events.user_channel(rt.channel_prefix, identity.user.id),
        events.TokenRevoked(user_id=identity.user.id, token_id=identity.token_id),
    )


async def live_token_ids(session: AsyncSession, token_ids: Collection[int]) -> set[int]:
    """Those of ``token_ids`` that exist and are not revoked."""
    rows = await session.scalars(
        select(models.ApiToken.id).where(
            models.ApiToken.id.in_(token_ids), models.ApiToken.revoked_at.is_(None)
        )
    )
    return set(rows)
