"""Accounts, sign-in and bearer tokens: opaque ones TaskBell issues, and host apps' JWTs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskbell import auth, events, jwts, models, token_cache
from taskbell.config import DEFAULT_TOKEN_TTL_SECONDS
from taskbell.db import Sessions
from taskbell.errors import BadUserInput, Unauthenticated
from taskbell.models.base import utcnow
from taskbell.runtime import Runtime

log = logging.getLogger(__name__)

# Writing last_used_at on every request would turn every read into a write.
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class Identity:
    """Who is calling, and with which token (so logout can revoke exactly it)."""

    user: models.User
    token_id: int
    # When the credential stops working; live subscriptions end then (None: never).
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IssuedToken:
    """A new bearer token and the moment it stops working (fixed at issue)."""

    token: str
    expires_at: datetime


def credentials(user: models.User, issued: IssuedToken, password: str) -> dict[str, str]:
    """What the CLI prints for a user it created or seeded."""
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "token": issued.token,
        "password": password,
        "expiresAt": issued.expires_at.astimezone(UTC).isoformat(),
    }


def _clean_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise BadUserInput("A valid email address is required.")
    return email


async def create_user(
    sessions: Sessions,
    email: str,
    name: str,
    password: str,
    *,
    ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
) -> tuple[models.User, IssuedToken]:
    """Register a user and issue their first token."""
    email, name = _clean_email(email), name.strip()
    if not name or len(name) > 200:
        raise BadUserInput("Name must be 1 to 200 characters.")
    if len(password) < 8:
        raise BadUserInput("Password must be at least 8 characters.")
    if ttl_seconds <= 0:
        raise BadUserInput("A token's lifetime must be at least one second.")
    async with sessions.begin() as session:
        if await find_by_email(session, email) is not None:
            raise BadUserInput("A user with this email already exists.")
        user = models.User(email=email, name=name, password_hash=auth.hash_password(password))
        session.add(user)
        await session.flush()
        issued = await issue(session, user.id, ttl_seconds)
    return user, issued


async def find_by_email(session: AsyncSession, email: str) -> models.User | None:
    return await session.scalar(select(models.User).where(models.User.email == email.lower()))


async def issue(session: AsyncSession, user_id: int, ttl_seconds: int) -> IssuedToken:
    """A new opaque token for the user, working for ``ttl_seconds`` from now."""
    token = auth.new_token()
    expires_at = utcnow() + timedelta(seconds=ttl_seconds)
    session.add(
        models.ApiToken(user_id=user_id, token_hash=auth.token_digest(token), expires_at=expires_at)
    )
    await session.flush()
    return IssuedToken(token, expires_at)


async def issue_token(
    session: AsyncSession, user_id: int, ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS
) -> str:
    """The token alone, for callers that do not show its expiry."""
    return (await issue(session, user_id, ttl_seconds)).token


async def login(
    rt: Runtime, email: str, password: str, address: str
) -> tuple[IssuedToken, models.User]:
    """Check the password (rate-limited per email and per address) and issue a token."""
    await rt.throttle.check_login(email, address)
    async with rt.sessions() as session:
        user = await find_by_email(session, email.strip())
    password_hash = user.password_hash if user is not None else None
    if user is None or not auth.verify_password(password_hash, password):
        await rt.throttle.login_failed(email, address)
        raise Unauthenticated("Invalid email or password.")
    async with rt.sessions.begin() as session:
        return await issue(session, user.id, rt.settings.token_ttl_seconds), user


_TABLES = models.Base.metadata.tables
_TOKENS = _TABLES[models.ApiToken.__tablename__]
_USERS = _TABLES[models.User.__tablename__]
# Every request runs this: Core, one joined statement, no ORM identity map.
_LIVE_TOKEN = (
    select(
        _TOKENS.c.id.label("token_id"),
        _TOKENS.c.last_used_at,
        _TOKENS.c.expires_at,
        _USERS.c.id.label("user_id"),
        _USERS.c.email,
        _USERS.c.name,
        _USERS.c.password_hash,
        _USERS.c.created_at,
        _USERS.c.issuer,
        _USERS.c.subject,
    )
    .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(
        _TOKENS.c.token_hash == bindparam("digest"),
        _TOKENS.c.revoked_at.is_(None),
        _TOKENS.c.expires_at > bindparam("now"),
    )
)
# Row's type parameters differ between SQLAlchemy 2.0 and 2.1; the columns are _LIVE_TOKEN's.
_TokenRow = Any
_TOUCH_TOKEN = (
    update(_TOKENS)
    .where(_TOKENS.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)


async def authenticate(rt: Runtime, token: str | None) -> Identity | None:
    """Resolve a bearer token (opaque, or a host app's JWT) to its live user, or None.

    Expired, revoked and unknown tokens are all just None, and so is every JWT
    when JWT sign-in is not configured. A token this process checked recently
    costs no read (``taskbell.token_cache``); a JWT's signature and claims are
    still verified every time.
    """
    if not token:
        return None
    digest = auth.token_digest(token)
    is_jwt = jwts.looks_like_jwt(token)  # opaque tokens never contain a dot
    claims = None
    if is_jwt:
        claims = await rt.jwt.verify(token) if rt.jwt is not None else None
        if claims is None:
            return None
    cache = rt.tokens
    if cache is not None and (entry := cache.get(digest)) is not None:
        if _stale_use(entry.last_used_at):
            entry.last_used_at = await _touch(rt.sessions, entry.identity.token_id)
        rt.metrics.token_cache_hits.inc()
        return entry.identity
    generation = cache.generation if cache is not None else 0
    row = await _live_token(rt.sessions, digest)
    if row is None and claims is not None and await _first_sight(rt.sessions, claims, digest):
        row = await _live_token(rt.sessions, digest)
    if row is None:
        return None
    last_used_at = row.last_used_at
    if _stale_use(last_used_at):
        last_used_at = await _touch(rt.sessions, row.token_id)
    identity = _identity(row)
    if cache is not None:
        cache.put(digest, identity, last_used_at, generation)
    return identity


async def _live_token(sessions: Sessions, digest: str) -> _TokenRow | None:
    async with sessions.connect() as connection:
        result = await connection.execute(_LIVE_TOKEN, {"digest": digest, "now": utcnow()})
        return result.first()


def _stale_use(last_used_at: datetime | None) -> bool:
    """Whether the token's use is due to be recorded again (at most once a minute)."""
    return last_used_at is None or utcnow() - last_used_at > LAST_USED_GRANULARITY


async def _touch(sessions: Sessions, token_id: int) -> datetime:
    now = utcnow()
    async with sessions.transaction() as connection:
        await connection.execute(_TOUCH_TOKEN, {"token_id": token_id, "now": now})
    return now


def _identity(row: _TokenRow) -> Identity:
    """The identity for a live token row."""
    user = models.User(
        id=row.user_id,
        email=row.email,
        name=row.name,
        password_hash=row.password_hash,
        created_at=row.created_at,
        issuer=row.issuer,
        subject=row.subject,
    )
    return Identity(user=user, token_id=row.token_id, expires_at=row.expires_at)


async def _first_sight(sessions: Sessions, claims: jwts.Claims, digest: str) -> bool:
    """Record a JWT not seen before: its user, created or updated from the claims, and a
    token row (so logout and live checks work as for opaque tokens). False: refused."""
    for attempt in (1, 2):
        try:
            async with sessions.begin() as session:
                known = select(models.ApiToken.id).where(models.ApiToken.token_hash == digest)
                if await session.scalar(known) is not None:
                    return True  # recorded meanwhile, or revoked: the caller's lookup decides
                user = await _jwt_user(session, claims)
                if user is None:
                    return False
                token = models.ApiToken(
                    user_id=user.id, token_hash=digest, expires_at=claims.expires_at
                )
                session.add(token)
            return True
        except IntegrityError:
            # A concurrent first sight of this JWT or this user won; look again once.
            if attempt == 2:
                raise
    return False


async def _jwt_user(session: AsyncSession, claims: jwts.Claims) -> models.User | None:
    """The user for (iss, sub): made on first sight, email and name kept up to date.

    An email that belongs to another TaskBell user is refused, never linked: a host
    app must not be able to take over a password account by naming its email.
    """
    user = await session.scalar(
        select(models.User).where(
            models.User.issuer == claims.issuer, models.User.subject == claims.subject
        )
    )
    email = _valid_email(claims.email)
    if claims.email is not None and email is None:
        log.info("JWT refused: its email claim is not an email address")
        return None
    if email is not None and (user is None or email != user.email):
        holder = await find_by_email(session, email)
        if holder is not None and (holder.issuer, holder.subject) == (
            claims.issuer,
            claims.subject,
        ):
            user = holder  # a concurrent first sight of this subject committed it meanwhile
        elif holder is not None:
            log.info("JWT refused: its email belongs to another TaskBell user")
            return None
    if user is None:
        if email is None:
            log.info("JWT refused: a new user needs an email claim")
            return None
        user = models.User(
            email=email,
            name=_jwt_name(claims.name) or email.split("@")[0],
            password_hash=auth.NO_PASSWORD,
            issuer=claims.issuer,
            subject=claims.subject,
        )
        session.add(user)
        await session.flush()
        return user
    if email is not None:
        user.email = email
    user.name = _jwt_name(claims.name) or user.name
    await session.flush()
    return user


def _valid_email(email: str | None) -> str | None:
    if email is None:
        return None
    try:
        return _clean_email(email)
    except BadUserInput:
        return None


def _jwt_name(name: str | None) -> str:
    return (name or "").strip()[:200]


async def revoke_token(rt: Runtime, identity: Identity) -> None:
    """Revoke the token; subscriptions opened with it end, and every process forgets it."""
    async with rt.sessions.begin() as session:
        await session.execute(
            update(models.ApiToken)
            .where(models.ApiToken.id == identity.token_id, models.ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    if rt.tokens is not None:
        rt.tokens.forget_token(identity.token_id)  # this process at once, before any reply
    revoked = events.TokenRevoked(user_id=identity.user.id, token_id=identity.token_id)
    await rt.hub.publish_many(
        [
            (events.user_channel(rt.channel_prefix, identity.user.id), revoked),
            (token_cache.token_channel(rt.channel_prefix), revoked),
        ]
    )


@contextlib.asynccontextmanager
async def watching_revocations(rt: Runtime) -> AsyncIterator[None]:
    """Keep the process's token and membership caches in step with revocations made on
    any process."""
    channel = [token_cache.token_channel(rt.channel_prefix)]
    async with contextlib.AsyncExitStack() as watches:
        for cache in (rt.tokens, rt.memberships):
            if cache is not None and cache.enabled:
                await watches.enter_async_context(rt.hub.watch(channel, cache))
        yield


async def live_token_ids(session: AsyncSession, token_ids: Collection[int]) -> set[int]:
    """Those of ``token_ids`` that exist, are not revoked and have not expired."""
    rows = await session.scalars(
        select(models.ApiToken.id).where(
            models.ApiToken.id.in_(token_ids),
            models.ApiToken.revoked_at.is_(None),
            models.ApiToken.expires_at > utcnow(),
        )
    )
    return set(rows)
