"""The long-lived parts one app owns, handed to services explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from taskbell.config import Settings
from taskbell.db import Sessions
from taskbell.jwts import JwtVerifier
from taskbell.membership_cache import MembershipCache
from taskbell.metrics import Metrics
from taskbell.outbox import Outbox
from taskbell.ratelimit import Throttle
from taskbell.realtime.hub import Hub
from taskbell.realtime.stats import Stats
from taskbell.services.vapid import VapidKeys
from taskbell.token_cache import TokenCache

if TYPE_CHECKING:  # the tracker's module needs services, which need this one
    from taskbell.realtime.presence import Presence


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
    # Who is online and who edits what, cluster-wide (taskbell.realtime.presence).
    presence: Presence
    # The Web Push signing key (configured, or generated once and kept in the database).
    vapid: VapidKeys
    # Host apps' JWTs; None when they are not enabled (then they are bad tokens).
    jwt: JwtVerifier | None = None
    # Tokens already checked (taskbell.token_cache); None: every request reads the database.
    tokens: TokenCache | None = None
    # Who belongs to which projects, as last read (taskbell.membership_cache); None: always read.
    memberships: MembershipCache | None = None
