"""The outbox on real databases: claims never overlap, leases expire, outcomes are final,
and the worker delivers as soon as it is woken."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select

from taskbell import models
from taskbell.config import Settings
from taskbell.db import Sessions, create_engine, create_sessions
from taskbell.models.base import utcnow
from taskbell.outbox import Message, Outbox, Outcome, Verdict, store

LEASE = timedelta(seconds=60)
DELIVERED = Outcome(Verdict.DELIVERED, status_code=200)
RETRY = Outcome(Verdict.RETRY, status_code=500)


@pytest.fixture
async def first(database_url: str) -> AsyncIterator[Sessions]:
    """One process's connection pool."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        yield create_sessions(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def second(database_url: str) -> AsyncIterator[Sessions]:
    """Another process's pool on the same database."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        yield create_sessions(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def channel() -> str:
    """A channel of this test's own, so rows of other tests in the module stay out of it."""
    return f"test-{uuid.uuid4().hex[:8]}"


async def add_messages(sessions: Sessions, channel: str, count: int) -> list[int]:
    async with sessions.begin() as session:
        rows = [
            models.OutboxMessage(
                channel=channel,
                target_id=n,
                message_id=f"{channel}-{uuid.uuid4().hex[:8]}-{n}",
                event_type="test.happened",
                payload="{}",
            )
            for n in range(count)
        ]
        session.add_all(rows)
    return [row.id for row in rows]


async def claim(
    sessions: Sessions,
    channel: str,
    token: str,
    limit: int = 10,
    lease: timedelta = LEASE,
    later: float = 0,
) -> list[Message]:
    """Claim as a worker would, `later` seconds from now."""
    now = utcnow() + timedelta(seconds=later)
    async with sessions.transaction() as connection:
        return await store.claim(connection, [channel], token, limit, now, lease)


async def record(
    sessions: Sessions,
    message: Message,
    token: str,
    outcome: Outcome,
    schedule: Sequence[float] = (30, 60),
    later: float = 0,
) -> bool:
    now = utcnow() + timedelta(seconds=later)
    async with sessions.transaction() as connection:
        return await store.record(connection, message, token, outcome, schedule, now)


async def row(sessions: Sessions, message_id: int) -> models.OutboxMessage:
    async with sessions() as session:
        return await session.get_one(models.OutboxMessage, message_id)


async def test_two_workers_draining_together_never_claim_the_same_row(
    first: Sessions, second: Sessions, channel: str, database_url: str
) -> None:
    """120 rows, two pools claiming 7 at a time: every row once; on PostgreSQL split
    between them (SQLite's write lock may let one pool take every batch under load)."""
    ids = await add_messages(first, channel, 120)

    async def drain(sessions: Sessions, name: str) -> list[int]:
        got: list[int] = []
        while batch := await claim(sessions, channel, f"{name}-{len(got)}", limit=7):
            got += [m.id for m in batch]
        return got

    mine, theirs = await asyncio.gather(drain(first, "a"), drain(second, "b"))
    assert set(mine).isdisjoint(theirs)
    assert sorted(mine + theirs) == sorted(ids)
    if database_url.startswith("postgresql"):
        assert mine
        assert theirs


async def test_a_claim_in_progress_is_skipped_not_waited_for(
    first: Sessions, second: Sessions, channel: str, database_url: str
) -> None:
    """PostgreSQL: while one claim's transaction is open, another gets other rows at once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises claims by its write lock (one worker per database)")
    await add_messages(first, channel, 10)
    async with first.transaction() as connection:
        mine = await store.claim(connection, [channel], "a", 5, utcnow(), LEASE)
        async with asyncio.timeout(5):
            theirs = await claim(second, channel, "b", limit=10)
    assert len(mine) == len(theirs) == 5
    assert {m.id for m in mine}.isdisjoint(m.id for m in theirs)


async def test_a_claim_is_a_lease_that_expires(
    first: Sessions, second: Sessions, channel: str
) -> None:
    """Nobody else gets a claimed row until its lease ends; then the late owner cannot record."""
    [message_id] = await add_messages(first, channel, 1)
    [held] = await claim(first, channel, "crashed", lease=timedelta(seconds=30))
    assert await claim(second, channel, "other") == []
    [taken] = await claim(second, channel, "other", later=31)
    assert taken.id == held.id == message_id
    assert await record(first, held, "crashed", DELIVERED) is False
    assert await record(second, taken, "other", DELIVERED) is True
    assert (await row(first, message_id)).attempts == 1


async def test_retries_follow_the_schedule_until_it_runs_out(first: Sessions, channel: str) -> None:
    """Each failure waits its turn in the schedule; past its end the message fails."""
    [message_id] = await add_messages(first, channel, 1)
    [message] = await claim(first, channel, "t1")
    assert await record(first, message, "t1", RETRY, schedule=(30, 60))
    assert await claim(first, channel, "early", later=29) == []
    [again] = await claim(first, channel, "t2", later=31)
    assert (again.attempts, again.message_id) == (1, message.message_id)
    message = again
    assert await record(first, message, "t2", RETRY, schedule=(30, 60), later=31)
    [message] = await claim(first, channel, "t3", later=92)
    assert await record(first, message, "t3", RETRY, schedule=(30, 60), later=92)
    assert await claim(first, channel, "never", later=10**6) == []
    failed = await row(first, message_id)
    assert (failed.attempts, failed.last_status_code) == (3, 500)
    assert failed.failed_at is not None
    assert (failed.delivered_at, failed.next_attempt_at) == (None, None)


async def test_a_success_is_final(first: Sessions, channel: str) -> None:
    """A delivered message is never claimed again, whenever anyone looks."""
    [message_id] = await add_messages(first, channel, 1)
    [message] = await claim(first, channel, "t")
    assert await record(first, message, "t", DELIVERED)
    assert await claim(first, channel, "again", later=10**6) == []
    done = await row(first, message_id)
    assert (done.attempts, done.last_status_code, done.failed_at) == (1, 200, None)
    assert done.delivered_at is not None


class FakeHandler:
    """Records what it is given; optionally blocks until released."""

    retry_schedule: Sequence[float] = (30,)

    def __init__(self) -> None:
        self.seen: list[Message] = []
        self.release: asyncio.Event | None = None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def deliver(self, message: Message) -> Outcome:
        self.seen.append(message)
        if self.release is not None:
            await self.release.wait()
        return DELIVERED


async def wait_until(condition: Callable[[], Awaitable[bool]], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def test_a_woken_worker_delivers_at_once_without_waiting_for_its_poll(
    first: Sessions, channel: str
) -> None:
    """Poll interval 60 s, yet a message enqueued and woken for is delivered within seconds."""
    handler = FakeHandler()
    worker = Outbox(first, poll_seconds=60)
    worker.register(channel, handler)
    await worker.start()
    try:
        for _ in range(2):  # the second arrives while the loop sleeps on its poll
            [message_id] = await add_messages(first, channel, 1)
            worker.wake()
            started = time.monotonic()

            async def delivered(message_id: int = message_id) -> bool:
                return (await row(first, message_id)).delivered_at is not None

            await wait_until(delivered, seconds=5)
            assert time.monotonic() - started < 5
    finally:
        await worker.stop()
    assert len(handler.seen) == 2


async def test_stopping_mid_delivery_gives_the_claim_back(
    first: Sessions, second: Sessions, channel: str
) -> None:
    """A worker shut down while a delivery hangs releases it: another process claims it at once."""
    handler = FakeHandler()
    handler.release = asyncio.Event()  # never set: the delivery hangs
    worker = Outbox(first, poll_seconds=60, stop_grace_seconds=0.1)
    worker.register(channel, handler)
    [message_id] = await add_messages(first, channel, 1)
    await worker.start()
    try:

        async def started() -> bool:
            return bool(handler.seen)

        await wait_until(started)
    finally:
        await worker.stop()
    released = await row(first, message_id)
    assert (released.claim_token, released.delivered_at, released.attempts) == (None, None, 0)
    [again] = await claim(second, channel, "next process")
    assert again.id == message_id


async def test_rows_of_channels_without_a_handler_are_left_alone(
    first: Sessions, second: Sessions, channel: str
) -> None:
    """A worker claims only its registered channels (say, an older process during a deploy)."""
    await add_messages(first, channel, 1)
    assert await claim(second, "some-other-channel", "t") == []
    [message] = await claim(second, channel, "t")
    assert message.channel == channel
    async with first() as session:
        mine = await session.scalars(
            select(models.OutboxMessage.id).where(models.OutboxMessage.channel == channel)
        )
        assert list(mine) == [message.id]
