"""Browsers registered for Web Push, and keys the server generates once and keeps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from taskbell.models.base import Base, utcnow


class PushSubscription(Base):
    """One browser's PushSubscription (RFC 8030 endpoint + RFC 8291 keys) for one member."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Registering is idempotent per endpoint; a browser's endpoint belongs to one member.
    endpoint: Mapped[str] = mapped_column(String(2000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServerKey(Base):
    """A secret generated on first use and shared by every process (the VAPID key)."""

    __tablename__ = "server_keys"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
