"""The long-lived parts one app owns, handed to services explicitly."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from taskbell.config import Settings
from taskbell.db import Sessions
from taskbell.jwts import JwtVerifier
from taskbell.metrics import Metrics
from taskbell.outbox import Outbox
from taskbell.ratelimit import Throttle
from taskbell.realtime.hub import Hub
from taskbell.realtime.stats import Stats
from taskbell.token_cache import TokenCache


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: Sessions
    hub: Hub
    metrics: Metrics
    stats: Stats
    throttle: Throttle
    channel_prefix: str
    # Delivers webhooks (and later email and push) after commit; see taskbell.outbox.
    outbox: Outbox
    # Host apps' JWTs; None when they are not enabled (then they are bad tokens).
    jwt: JwtVerifier | None = None
    # Tokens already checked (taskbell.token_cache); None: every request reads the database.
    tokens: TokenCache | None = None
