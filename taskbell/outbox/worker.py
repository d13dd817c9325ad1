"""The delivery worker: claims due messages, runs their handlers, records each outcome."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta

from taskbell.db import Sessions
from taskbell.models.base import utcnow
from taskbell.outbox import store
from taskbell.outbox.handler import Handler, Message, Outcome, Verdict

log = logging.getLogger(__name__)
RECORD_TRIES = 5
STOP_GRACE_SECONDS = 5.0


class Outbox:
    """One per process: a registry of channel handlers and the loop that feeds them.

    The loop claims when woken (``wake``, called after a commit that enqueued
    something, and whenever a delivery ends) or every ``poll_seconds`` (retries
    falling due, rows other processes wrote). At most ``concurrency`` deliveries
    run at once; a slow destination holds one slot, not the loop.
    """

    def __init__(
        self,
        sessions: Sessions,
        *,
        poll_seconds: float = 1.0,
        lease_seconds: float = 60.0,
        concurrency: int = 20,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._poll_seconds = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._concurrency = concurrency
        self._stop_grace = stop_grace_seconds
        self._handlers: dict[str, Handler] = {}
        self._wakeup = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._in_flight: dict[asyncio.Task[None], str] = {}  # delivery -> its claim token

    def register(self, channel: str, handler: Handler) -> None:
        self._handlers[channel] = handler

    def wake(self) -> None:
        """Claim now instead of at the next poll (safe to call from any coroutine)."""
        self._wakeup.set()

    async def start(self) -> None:
        for handler in self._handlers.values():
            await handler.start()
        self._loop_task = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        """Stop claiming, let deliveries finish briefly, give the rest of the claims back."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=self._stop_grace)
        unfinished = dict(self._in_flight)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        if unfinished:
            try:
                async with self._sessions.transaction() as connection:
                    await store.release(connection, set(unfinished.values()))
            except Exception:  # their leases expire instead
                log.exception("could not release %d outbox claims", len(unfinished))
        for handler in self._handlers.values():
            await handler.stop()

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            free = self._concurrency - len(self._in_flight)
            if free > 0 and self._handlers:
                try:
                    await self.deliver_due(free)
                except Exception:  # the database is down, say: try again at the next poll
                    log.exception("claiming outbox messages failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wakeup.wait()

    async def deliver_due(self, limit: int) -> int:
        """Claim up to ``limit`` due messages and start delivering them; returns how many."""
        token = secrets.token_hex(16)
        async with self._sessions.transaction() as connection:
            claimed = await store.claim(
                connection, list(self._handlers), token, limit, utcnow(), self._lease
            )
        for message in claimed:
            task = asyncio.create_task(self._deliver(message, token))
            self._in_flight[task] = token
            task.add_done_callback(self._finished)
        return len(claimed)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self.wake()  # a slot is free, and more may be due

    async def _deliver(self, message: Message, token: str) -> None:
        handler = self._handlers[message.channel]
        try:
            outcome = await handler.deliver(message)
        except Exception as error:  # a handler bug must not kill the message
            log.exception("outbox handler %r failed on message %d", message.channel, message.id)
            outcome = Outcome(Verdict.RETRY, error=type(error).__name__)
        await self._record(message, token, outcome, handler)

    async def _record(
        self, message: Message, token: str, outcome: Outcome, handler: Handler
    ) -> None:
        """Write the outcome down; a success must not be lost to a passing database error."""
        for attempt in range(RECORD_TRIES):
            try:
                async with self._sessions.transaction() as connection:
                    kept = await store.record(
                        connection, message, token, outcome, handler.retry_schedule, utcnow()
                    )
            except Exception:
                log.exception("recording outbox message %d failed", message.id)
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            if not kept:
                log.warning("outbox message %d: claim lost before its outcome", message.id)
            return
