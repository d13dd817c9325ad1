"""A real webhook receiver on 127.0.0.1 for the tests: verifies every signature with the
`standardwebhooks` library, answers what the test scripted, and records what it got."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.local_service import LocalService
from tests.support.processes import HOST


@dataclass(frozen=True)
class Received:
    path: str
    webhook_id: str
    content_type: str
    body: dict[str, Any]
    verified: bool
    answered: int


@dataclass
class Receiver(LocalService[Received]):
    """Each path is one endpoint: give it the endpoint's secret and, optionally, the statuses
    to answer first (200 once they run out)."""

    _secrets: dict[str, str] = field(default_factory=dict)
    _answers: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}/{path}"

    def expect(self, path: str, secret: str, *answers: int) -> None:
        self._secrets[path] = secret
        self._answers[path].extend(answers)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def routes(self) -> list[Route]:
        return [Route("/{path}", self._receive, methods=["POST"])]

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
