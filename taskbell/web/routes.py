"""Operational endpoints: health, readiness, metrics and the seed's /ws/stats."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from taskbell.runtime import Runtime
from taskbell.web import security

router = APIRouter()
PROBE_TIMEOUT = 2.0
STATIC_DIR = Path(__file__).parent / "static"


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


@router.get("/", include_in_schema=False)
async def home() -> FileResponse:
    """The web client; its scripts and styles are under /static."""
    return FileResponse(STATIC_DIR / "index.html", headers=security.client_headers())


@router.get("/sw.js", include_in_schema=False)
async def service_worker() -> FileResponse:
    """The Web Push service worker, at the root so its scope is the whole app."""
    headers = {"Service-Worker-Allowed": "/", "Cache-Control": "no-cache", **security.COMMON}
    return FileResponse(STATIC_DIR / "sw.js", media_type="text/javascript", headers=headers)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 only when both the database and the broadcast backend answer."""
    rt = _runtime(request)
    database = await _database_ok(rt)
    broadcast = await rt.hub.ping()
    ok = database and broadcast
    return JSONResponse(
        {"database": database, "broadcast": broadcast}, status_code=200 if ok else 503
    )


async def _database_ok(rt: Runtime) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT), rt.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(_runtime(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/ws/stats")
async def ws_stats(request: Request) -> dict[str, int]:
    """This process's sockets and subscriptions (each process reports its own)."""
    return dataclasses.asdict(_runtime(request).stats.snapshot())
