"""A real webhook receiver on 127.0.0.1 for the tests: verifies every signature with the
`standardwebhooks` library, answers what the test scripted, and records what it got."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.processes import HOST, free_port


@dataclass(frozen=True)
class Received:
    path: str
    webhook_id: str
    content_type: str
    body: dict[str, Any]
    verified: bool
    answered: int


@dataclass
class Receiver:
    """Each path is one endpoint: give it the endpoint's secret and, optionally, the statuses
    to answer first (200 once they run out)."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _secrets: dict[str, str] = field(default_factory=dict)
    _answers: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}/{path}"

    def expect(self, path: str, secret: str, *answers: int) -> None:
        self._secrets[path] = secret
        self._answers[path].extend(answers)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{path}", self._receive, methods=["POST"])])
        config = uvicorn.Config(app, host=HOST, port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert not self._task.done(), "the receiver could not start"
            assert time.monotonic() < deadline, "the receiver never started"
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def wait_for(
        self, accept: Callable[[Receiver], bool], seconds: float = 10, what: str = "requests"
    ) -> None:
        """Poll until `accept` holds; fail with what arrived otherwise."""
        deadline = time.monotonic() + seconds
        while not accept(self):
            assert time.monotonic() < deadline, f"no {what} within {seconds} s: {self.received}"
            await asyncio.sleep(0.05)

    async def _receive(self, request: Request) -> Response:
        path = request.path_params["path"]
        raw = await request.body()
        headers = dict(request.headers)
        verified = False
        if path in self._secrets:
            try:
                Webhook(self._secrets[path]).verify(raw, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        answers = self._answers[path]
        status = (answers.popleft() if answers else 200) if verified else 401
        self.received.append(
            Received(
                path=path,
                webhook_id=headers.get("webhook-id", ""),
                content_type=headers.get("content-type", ""),
                body=json.loads(raw),
                verified=verified,
                answered=status,
            )
        )
        return Response(status_code=status)
