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
from taskbell.services.vapid import VapidKeys


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
    # The Web Push signing key (configured, or generated once and kept in the database).
    vapid: VapidKeys
    # Host apps' JWTs; None when they are not enabled (then they are bad tokens).
    jwt: JwtVerifier | None = None
