"""The outbox handler for webhooks: sign with Standard Webhooks, POST, judge the answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from sqlalchemy import update
from standardwebhooks import Webhook

from taskbell import destinations, models, outbox
from taskbell.config import Settings
from taskbell.db import Sessions
from taskbell.models.base import utcnow
from taskbell.outbox import Message, Outcome, Verdict
from taskbell.services.webhooks import CHANNEL

# No answer within this is a failed attempt (CONTRACT.md); well inside the outbox lease.
TIMEOUT_SECONDS = 15.0
GONE = 410


class WebhookSender:
    """One shared HTTP client for every endpoint; redirects are not followed (a non-2xx)."""

    def __init__(self, settings: Settings, sessions: Sessions) -> None:
        self._sessions = sessions
        self._allow_private = settings.allow_private_destinations
        self._schedule = tuple(settings.webhook_retry_schedule)
        self._client: httpx.AsyncClient | None = None

    @property
    def retry_schedule(self) -> Sequence[float]:
        return self._schedule

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
        )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def deliver(self, message: Message) -> Outcome:
        assert self._client is not None, "start() first"
        async with self._sessions() as session:
            endpoint = await session.get(models.WebhookEndpoint, message.target_id)
        if endpoint is None or not endpoint.enabled:
            return Outcome(Verdict.GIVE_UP, error="the endpoint is deleted or disabled")
        try:
            url = destinations.parse_url(endpoint.url)
            destination = await destinations.resolve(url, self._allow_private)
        except destinations.RefusedDestination as refused:  # DNS may answer otherwise later
            return Outcome(Verdict.RETRY, error=refused.message)
        body = message.payload.encode()
        request = destinations.pinned_request(
            self._client, destination, body, signed_headers(endpoint.secret, message)
        )
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                response = await self._client.send(request, stream=True)
                await response.aclose()  # the answer's body is of no interest
        except (httpx.HTTPError, TimeoutError) as error:
            return Outcome(Verdict.RETRY, error=f"{type(error).__name__}: {error}"[:200])
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(Verdict.DELIVERED, status_code=code)
        if code == GONE:
            await self._disable(endpoint.id)
            return Outcome(Verdict.GIVE_UP, status_code=code, error="410 Gone: endpoint disabled")
        return Outcome(Verdict.RETRY, status_code=code)

    async def _disable(self, endpoint_id: int) -> None:
        """410: no more deliveries to it, and those waiting fail now."""
        async with self._sessions.transaction() as connection:
            await connection.execute(
                update(models.WebhookEndpoint)
                .where(models.WebhookEndpoint.id == endpoint_id)
                .values(enabled=False)
            )
            await outbox.fail_pending(
                connection, CHANNEL, endpoint_id, "the endpoint answered 410 Gone", utcnow()
            )


def signed_headers(secret: str, message: Message) -> dict[str, str]:
    """The Standard Webhooks headers: same id on every attempt, fresh timestamp and signature."""
    now = datetime.fromtimestamp(int(time.time()), UTC)
    signature = Webhook(secret).sign(message.message_id, now, message.payload)
    return {
        "Content-Type": "application/json",
        "webhook-id": message.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
