"""The durable outbox: messages to deliver to the outside world, whatever the channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from taskbell.models.base import Base, utcnow


class OutboxMessage(Base):
    """One message for one destination, written in the transaction of the change behind it.

    ``channel`` names the handler that delivers it (``webhook``, later ``email``,
    ``push``); ``target_id`` is that channel's destination row, deliberately
    without a foreign key so that the outbox knows nothing about any channel.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # What workers claim: pending rows in due order.
        Index(
            "ix_outbox_messages_due",
            "next_attempt_at",
            postgresql_where=text("delivered_at IS NULL AND failed_at IS NULL"),
            sqlite_where=text("delivered_at IS NULL AND failed_at IS NULL"),
        ),
        # A destination's history, newest first (WebhookEndpoint.deliveries).
        Index("ix_outbox_messages_target", "channel", "target_id", text("id DESC")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int]
    # Stable across attempts (the webhook-id header): receivers deduplicate on it.
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    # A claim is a lease: a worker that dies holding one loses it when it expires.
    claim_token: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
