"""What a channel plugs into the outbox: a handler that delivers one message, and its outcome."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    """A claimed outbox row, as its handler sees it."""

    id: int
    channel: str
    target_id: int
    message_id: str
    event_type: str
    payload: str
    # Attempts recorded before this one.
    attempts: int


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # try again on the schedule, while it lasts
    GIVE_UP = "give_up"  # never again (the destination is gone or refuses for good)


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    status_code: int | None = None
    error: str | None = None


class Handler(Protocol):
    """Delivers the messages of one channel; it must answer within the outbox's lease."""

    @property
    def retry_schedule(self) -> Sequence[float]:
        """Seconds before each retry; once it runs out a message fails."""

    async def start(self) -> None:
        """Open what deliveries share (an HTTP client, an SMTP connection)."""

    async def stop(self) -> None: ...

    async def deliver(self, message: Message) -> Outcome: ...
