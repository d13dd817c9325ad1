"""The app factory; its lifespan owns the engine and the broadcast hub."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from taskbell.config import Settings
from taskbell.db import create_engine, create_sessions
from taskbell.fanout import Hub
from taskbell.jwts import JwtVerifier
from taskbell.metrics import Metrics
from taskbell.presence import Presence
from taskbell.ratelimit import Throttle
from taskbell.runtime import Runtime
from taskbell.schema.root import build_schema
from taskbell.web import graphql, routes
from taskbell.web.limits import BodySizeLimit


def build_runtime(settings: Settings) -> Runtime:
    """Wire the long-lived parts; nothing connects until ``running`` enters."""
    engine = create_engine(settings)
    presence = Presence()
    metrics = Metrics(presence)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=create_sessions(engine),
        hub=Hub(settings.broadcast_url, metrics),
        metrics=metrics,
        presence=presence,
        throttle=Throttle(settings),
        channel_prefix=settings.resolved_channel_prefix(),
        jwt=JwtVerifier.from_settings(settings),
    )


@asynccontextmanager
async def running(rt: Runtime) -> AsyncIterator[Runtime]:
    """Connect the hub for the duration; always release the hub and the pool."""
    await rt.hub.start()
    try:
        yield rt
    finally:
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
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.state.runtime = rt
    router = graphql.create_router(build_schema(settings), rt)
    app.state.groups = router.groups  # for inspection; None when grouping is off
    app.include_router(router, prefix="/graphql")
    app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=routes.STATIC_DIR), name="static")
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory taskbell.app:app_from_env`` (several workers)."""
    return create_app(Settings())
