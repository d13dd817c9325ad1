"""What each member is told about a change, with its read state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from taskbell.domain import NotificationKind
from taskbell.models.base import Base, utcnow


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # The bell: a recipient's notifications newest first, and the unread count.
        Index("ix_notifications_recipient_id_id", "recipient_id", text("id DESC")),
        # notificationReceived(after:): a recipient's notifications in commit order.
        Index("uq_notifications_recipient_id_position", "recipient_id", "position", unique=True),
        Index(
            "ix_notifications_unread",
            "recipient_id",
            postgresql_where=text("read_at IS NULL"),
            sqlite_where=text("read_at IS NULL"),
        ),
        # What a member's next email would carry: unread and not yet emailed.
        Index(
            "ix_notifications_unemailed",
            "recipient_id",
            postgresql_where=text("read_at IS NULL AND emailed_at IS NULL"),
            sqlite_where=text("read_at IS NULL AND emailed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Where it stands in its recipient's stream (see ``User.notification_seq``).
    position: Mapped[int]
    event_id: Mapped[int] = mapped_column(
        ForeignKey("task_events.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[NotificationKind] = mapped_column(
        Enum(NotificationKind, name="notification_kind", native_enum=False, length=40),
        default=NotificationKind.TASK_STATUS_CHANGED,
    )
    message: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    # Set in the transaction that hands it to one email (the outbox message_id): never twice.
    emailed_at: Mapped[datetime | None]
    email_message_id: Mapped[str | None] = mapped_column(String(100))
