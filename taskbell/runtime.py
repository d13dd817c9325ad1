"""The long-lived parts one app owns, handed to services explicitly."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from taskbell.config import Settings
from taskbell.db import Sessions
from taskbell.fanout import Hub
from taskbell.jwts import JwtVerifier
from taskbell.metrics import Metrics
from taskbell.presence import Presence
from taskbell.ratelimit import Throttle


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: Sessions
    hub: Hub
    metrics: Metrics
    presence: Presence
    throttle: Throttle
    channel_prefix: str
    # Host apps' JWTs; None when they are not enabled (then they are bad tokens).
    jwt: JwtVerifier | None = None
