"""Abuse limits: failed sign-ins per email and per address, operations per socket.

Sign-in budgets are kept by the ``limits`` library: in Redis when the
deployment broadcasts over Redis (so the budget is shared by every process), in
memory otherwise. A socket's budget is its own (``SocketBudget``). If Redis
is unreachable the sign-in limit fails open and says so in the log: refusing
every sign-in during a broker outage would be worse than a slower guesser.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from taskbell.config import Settings
from taskbell.errors import RateLimited

log = logging.getLogger(__name__)


def _storage(settings: Settings) -> Storage:
    url = settings.broadcast_url
    if url.startswith(("redis://", "rediss://")):
        storage = storage_from_string(f"async+{url}", implementation="redispy")
        assert isinstance(storage, Storage)  # the async+ scheme yields an async storage
        return storage
    return MemoryStorage()


class Throttle:
    def __init__(self, settings: Settings) -> None:
        self._shared = MovingWindowRateLimiter(_storage(settings))
        self._prefix = settings.resolved_channel_prefix()
        self._per_email = parse(settings.login_failures_per_email)
        self._per_address = parse(settings.login_failures_per_address)
        self._per_socket = parse(settings.socket_operations_limit)

    async def check_login(self, email: str, address: str) -> None:
        """Refuse before checking the password once either budget is spent."""
        for item, key in self._login_keys(email, address):
            try:
                allowed = await self._shared.test(item, self._prefix, key)
                if not allowed:
                    reset_at, _ = await self._shared.get_window_stats(item, self._prefix, key)
                    retry_after = max(1, math.ceil(reset_at - time.time()))
                    raise RateLimited(
                        f"Too many failed sign-ins; try again in {retry_after} s.",
                        extensions={"retryAfter": retry_after},
                    )
            except RateLimited:
                raise
            except Exception:
                log.warning("sign-in limit unavailable; allowing this attempt", exc_info=True)

    async def login_failed(self, email: str, address: str) -> None:
        for item, key in self._login_keys(email, address):
            try:
                await self._shared.hit(item, self._prefix, key)
            except Exception:
                log.warning("could not record a failed sign-in", exc_info=True)

    def socket_budget(self) -> SocketBudget:
        return SocketBudget(self._per_socket)

    def _login_keys(self, email: str, address: str) -> list[tuple[RateLimitItem, str]]:
        return [
            (self._per_email, f"login-email:{email.strip().lower()}"),
            (self._per_address, f"login-address:{address}"),
        ]


class SocketBudget:
    """A socket's own budget of subscribe/complete messages, in fixed windows.

    It lives and dies with the socket, so unlike a shared storage there are no
    keys to expire or scan when thousands of sockets connect at once.
    """

    def __init__(self, limit: RateLimitItem) -> None:
        self._amount = limit.amount
        self._seconds = limit.get_expiry()
        self._window_start = -math.inf
        self._used = 0

    def allow(self) -> bool:
        """One more operation; False once this window's budget is spent."""
        now = time.monotonic()
        if now - self._window_start >= self._seconds:
            self._window_start, self._used = now, 0
        self._used += 1
        return self._used <= self._amount
