"""The app factory; its lifespan owns the engine and the broadcast hub."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from taskbell import api
from taskbell.channels import build_outbox, register_runtime_channels
from taskbell.config import Settings
from taskbell.db import create_engine, create_sessions
from taskbell.jwts import JwtVerifier
from taskbell.membership_cache import MembershipCache
from taskbell.metrics import Metrics
from taskbell.ratelimit import Throttle
from taskbell.realtime.groups import Groups
from taskbell.realtime.hub import Hub
from taskbell.realtime.presence import Presence
from taskbell.realtime.stats import Stats
from taskbell.runtime import Runtime
from taskbell.services.presence import members_of
from taskbell.services.users import watching_revocations
from taskbell.services.vapid import VapidKeys
from taskbell.token_cache import TokenCache
from taskbell.web import graphql, routes, unsubscribe
from taskbell.web.graphql_route import GraphQLRoute
from taskbell.web.limits import BodySizeLimit
from taskbell.web.origins import OriginPolicy
from taskbell.web.streams import HttpSubscriptions


def build_runtime(settings: Settings) -> Runtime:
    """Wire the long-lived parts; nothing connects until ``running`` enters."""
    engine = create_engine(settings)
    stats = Stats()
    metrics = Metrics(stats)
    sessions = create_sessions(engine)
    hub = Hub(settings.broadcast_url, metrics)
    prefix = settings.resolved_channel_prefix()
    rt = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        hub=hub,
        metrics=metrics,
        stats=stats,
        throttle=Throttle(settings),
        channel_prefix=prefix,
        outbox=build_outbox(settings, sessions),
        presence=Presence(settings, hub, prefix, lambda ids: members_of(sessions, ids)),
        vapid=VapidKeys(settings, sessions),
        jwt=JwtVerifier.from_settings(settings),
        tokens=TokenCache(settings.token_cache_size, settings.token_cache_seconds, hub.connected),
        memberships=MembershipCache(
            settings.token_cache_size, settings.token_cache_seconds, hub.connected
        ),
    )
    register_runtime_channels(rt)
    return rt


@asynccontextmanager
async def running(rt: Runtime) -> AsyncIterator[Runtime]:
    """Connect the hub and run the outbox for the duration; always release them and the pool."""
    await rt.hub.start()
    await rt.outbox.start()
    await rt.presence.start()
    try:
        async with watching_revocations(rt):
            yield rt
    finally:
        await rt.presence.stop()
        await rt.outbox.stop()
        await rt.hub.stop()
        await rt.engine.dispose()


def create_app(settings: Settings) -> FastAPI:
    """Build the ASGI app; its lifespan owns the engine and the hub."""
    logging.basicConfig(level=settings.log_level)
    rt = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with running(rt):
            yield

    telemetry = settings.opentelemetry
    app = FastAPI(
        title="TaskBell",
        lifespan=lifespan,
        telemetry={"tracing": telemetry, "metrics": telemetry, "logs": telemetry},
    )
    # Sockets and POSTs skip FastAPI's router (web.graphql_route); HTTP streams are
    # answered before them (web.streams).
    app.add_middleware(GraphQLRoute)
    app.add_middleware(HttpSubscriptions)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(OriginPolicy, allowed_origins=settings.allowed_origins)
    app.state.runtime = rt
    schema = api.build_schema(settings)
    groups = Groups(schema, rt, api.LIVE_FIELDS, api.query_limit_rules(settings))
    app.state.groups = groups  # the realtime core's entry point for every transport
    app.state.graphql_view = graphql.create_router(schema, rt, groups)
    app.include_router(app.state.graphql_view, prefix="/graphql")
    app.include_router(routes.router)
    app.include_router(unsubscribe.router)
    app.mount("/static", StaticFiles(directory=routes.STATIC_DIR), name="static")
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory taskbell.app:app_from_env`` (several workers)."""
    return create_app(Settings())
