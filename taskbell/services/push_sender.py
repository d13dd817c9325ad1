"""The outbox handler for Web Push: RFC 8291 ``aes128gcm`` + RFC 8292 VAPID via pywebpush.

pywebpush's async API (``webpush_async``, pywebpush 2.5) with one aiohttp session
per process. Each delivery re-checks the endpoint under the destination rule, and
the session's resolver refuses private addresses too, so a DNS answer that changes
after the check (rebinding) cannot point a push inside the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import httpx
from pywebpush import WebPushException, webpush_async
from sqlalchemy import select

from taskbell import destinations, models
from taskbell.outbox import Message, Outcome, Verdict
from taskbell.runtime import Runtime
from taskbell.services import connected, push

# Push services keep a message this long for a browser that is offline (CONTRACT.md: >= 1 h).
TTL_SECONDS = 24 * 3600
TIMEOUT_SECONDS = 15.0
# How long the VAPID JWT is valid (RFC 8292 allows up to 24 h).
JWT_SECONDS = 12 * 3600
GONE = frozenset({404, 410})
TOO_MANY = 429

_SUBSCRIPTIONS = models.Base.metadata.tables[models.PushSubscription.__tablename__]
_USERS = models.Base.metadata.tables[models.User.__tablename__]
_NOTIFICATIONS = models.Base.metadata.tables[models.Notification.__tablename__]


class PublicOnlyResolver(aiohttp.ThreadedResolver):
    """Resolves like aiohttp does, but refuses hosts with a non-public address (unless
    private destinations are allowed, asked at each lookup)."""

    def __init__(self, allow_private: Callable[[], bool]) -> None:
        super().__init__()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        found = await super().resolve(host, port, family)
        if self._allow_private():
            return found
        if not found or not all(
            destinations.is_public(ipaddress.ip_address(r["host"])) for r in found
        ):
            raise OSError(f"{host!r} resolves to a loopback, private or link-local address")
        return found


def refusing_private_literals(allow_private: Callable[[], bool]) -> aiohttp.ClientMiddlewareType:
    """aiohttp connects to an IP-literal host without resolving it: check those here (a
    middleware runs for every request, redirects included)."""

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        host = (request.url.host or "").strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return await handler(request)  # a name: PublicOnlyResolver checks it
        if not allow_private() and not destinations.is_public(address):
            raise OSError(f"{host!r} is a loopback, private or link-local address")
        return await handler(request)

    return middleware


def audience(url: httpx.URL) -> str:
    """The endpoint's origin, the VAPID JWT's ``aud`` (default ports left out)."""
    default = {"https": 443, "http": 80}.get(url.scheme)
    port = f":{url.port}" if url.port is not None and url.port != default else ""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}{port}"


class PushSender:
    """Delivers one outbox message to one subscription, unless its member is connected."""

    def __init__(self, rt: Runtime, timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self._rt = rt
        self._timeout = timeout_seconds
        self._schedule = tuple(rt.settings.push_retry_schedule)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The one HTTP session every push of this process goes through."""
        return self._session

    def _allow_private(self) -> bool:
        return self._rt.settings.allow_private_destinations

    @property
    def retry_schedule(self) -> Sequence[float]:
        return self._schedule

    async def start(self) -> None:
        private = self._allow_private
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=PublicOnlyResolver(private)),
            middlewares=(refusing_private_literals(private),),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            trust_env=False,
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(self, message: Message) -> Outcome:
        assert self._session is not None, "start() first"
        found = await self._subscription(message)
        if found is None:
            return Outcome(Verdict.GIVE_UP, error="the subscription was removed or moved")
        subscription, push_enabled = found
        if not push_enabled:
            return Outcome(Verdict.GIVE_UP, error="not sent: the member turned push off")
        user_id = subscription["user_id"]
        if await connected.connected_members(self._rt, [user_id]):
            return Outcome(Verdict.GIVE_UP, error="not sent: the member was connected")
        try:
            url = push.parse_endpoint(subscription["endpoint"], self._allow_private())
        except destinations.RefusedDestination as refused:
            return Outcome(Verdict.GIVE_UP, error=refused.message)
        try:
            await destinations.resolve(url, self._allow_private())
        except destinations.RefusedDestination as refused:  # DNS may answer otherwise later
            return Outcome(Verdict.RETRY, error=refused.message)
        return await self._send(message, subscription, url)

    async def _send(self, message: Message, subscription: Any, url: httpx.URL) -> Outcome:
        claims: dict[str, str | int] = {
            "sub": self._rt.settings.vapid_subject,
            "aud": audience(url),
            "exp": int(time.time()) + JWT_SECONDS,
        }
        info = {
            "endpoint": subscription["endpoint"],
            "keys": {"p256dh": subscription["p256dh"], "auth": subscription["auth"]},
        }
        try:
            async with asyncio.timeout(self._timeout + 1):
                response = await webpush_async(
                    info,
                    data=message.payload,
                    vapid_private_key=await self._rt.vapid.signer(),
                    vapid_claims=claims,
                    content_encoding="aes128gcm",
                    ttl=TTL_SECONDS,
                    timeout=self._timeout,
                    headers={"Urgency": "normal"},
                    aiohttp_session=self._session,
                )
        except WebPushException as refused:
            return await self._refused(subscription["id"], refused)
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            return Outcome(Verdict.RETRY, error=f"{type(error).__name__}: {error}"[:200])
        return Outcome(Verdict.DELIVERED, status_code=int(response.status))

    async def _refused(self, subscription_id: int, refused: WebPushException) -> Outcome:
        code = refused.status_code
        if code in GONE:
            reason = f"{code} from the push service: subscription removed"
            await push.remove_gone(self._rt, subscription_id, reason)
            return Outcome(Verdict.GIVE_UP, status_code=code, error=reason)
        error = str(refused.message)[:200]
        if code is not None and (code == TOO_MANY or code >= 500):
            return Outcome(Verdict.RETRY, status_code=code, error=error)
        return Outcome(Verdict.GIVE_UP, status_code=code, error=error)

    async def _subscription(self, message: Message) -> tuple[Any, bool] | None:
        """The message's subscription, if it still belongs to its Notification's recipient
        (it may have moved to another member, or SQLite may have reused a removed one's id)."""
        notification_id = push.notification_of(message.message_id)
        async with self._rt.sessions.connect() as connection:
            row = (
                await connection.execute(
                    select(_SUBSCRIPTIONS, _USERS.c.push_enabled)
                    .join(_USERS, _USERS.c.id == _SUBSCRIPTIONS.c.user_id)
                    .join(_NOTIFICATIONS, _NOTIFICATIONS.c.recipient_id == _USERS.c.id)
                    .where(
                        _SUBSCRIPTIONS.c.id == message.target_id,
                        _NOTIFICATIONS.c.id == notification_id,
                    )
                )
            ).first()
        if row is None:
            return None
        return row._mapping, bool(row.push_enabled)
