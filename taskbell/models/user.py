"""People who sign in, and the API tokens they authenticate with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column

from taskbell.domain import EmailMode
from taskbell.models.base import Base, utcnow


class User(Base):
    """A password user, or (issuer and subject set) a host app's user signed in by JWT."""

    __tablename__ = "users"
    # A unique index, not a constraint: SQLite adds it without rebuilding the users table.
    __table_args__ = (
        Index("uq_users_issuer_subject", "issuer", "subject", unique=True),
        Index("uq_users_unsubscribe_token", "unsubscribe_token", unique=True),
        Index("ix_users_email_due_at", "email_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # auth.NO_PASSWORD for JWT users: they never sign in with a password.
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The position of this user's last notification; bumped under the user's row lock
    # by the transaction that records one, so positions become visible in commit order.
    notification_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    issuer: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(255))
    # Notification preferences (v2); per-project levels live on ProjectMember.
    email_mode: Mapped[EmailMode] = mapped_column(
        Enum(EmailMode, name="email_mode", native_enum=False, length=20),
        default=EmailMode.IMMEDIATE,
        server_default=EmailMode.IMMEDIATE.value,
    )
    push_enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # The unguessable secret of this member's List-Unsubscribe link.
    unsubscribe_token: Mapped[str | None] = mapped_column(String(64))
    # When this member's pending email (IMMEDIATE window or digest) is due; None: none pending.
    email_due_at: Mapped[datetime | None]


class ApiToken(Base):
    """Only the SHA-256 of a token is stored; a fast hash keeps every request cheap.

    A JWT seen for the first time gets a row too (its digest, ``expires_at`` = its
    ``exp``), so logout and live-subscription checks treat both kinds alike.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
