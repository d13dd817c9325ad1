"""Projects, their members, and the per-project event sequence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from taskbell.domain import NotificationLevel
from taskbell.models.base import Base, utcnow


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Last position handed out in this project's event log; bumped under the row lock.
    event_seq: Mapped[int] = mapped_column(default=0)
    # Bumped (under the same lock) whenever a member leaves; see taskbell.services.live.
    membership_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Which of this project's changes notify this member at all (v2).
    notification_level: Mapped[NotificationLevel] = mapped_column(
        Enum(NotificationLevel, name="notification_level", native_enum=False, length=20),
        default=NotificationLevel.ALL,
        server_default=NotificationLevel.ALL.value,
    )
