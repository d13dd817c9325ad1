"""A real HTTP service on 127.0.0.1 that tests start, script and inspect (webhook receiver,
push service): uvicorn serving a Starlette app in the test's own event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Self, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from tests.support.processes import HOST, free_port

Received = TypeVar("Received")


@dataclass
class LocalService(Generic[Received]):
    """What every such service shares: its port, its start and stop, and waiting on what it got."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def routes(self) -> list[Route]:
        raise NotImplementedError

    async def start(self) -> None:
        app = Starlette(routes=self.routes())
        config = uvicorn.Config(app, host=HOST, port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 10
        name = type(self).__name__
        while not self._server.started:
            assert not self._task.done(), f"{name} could not start"
            assert time.monotonic() < deadline, f"{name} never started"
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def wait_for(
        self, accept: Callable[[Self], bool], seconds: float = 10, what: str = "requests"
    ) -> None:
        """Poll until `accept` holds; fail with what arrived otherwise."""
        deadline = time.monotonic() + seconds
        while not accept(self):
            assert time.monotonic() < deadline, f"no {what} within {seconds} s: {self.received}"
            await asyncio.sleep(0.05)
