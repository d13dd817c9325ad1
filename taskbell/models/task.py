"""Tasks and their durable, per-project ordered log of status changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from taskbell.domain import TaskStatus
from taskbell.models.base import Base, utcnow

StatusType = Enum(TaskStatus, name="task_status", native_enum=False, length=20)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[TaskStatus] = mapped_column(StatusType, default=TaskStatus.TODO)
    version: Mapped[int] = mapped_column(default=1)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Who created it: a PARTICIPATING member hears of tasks they created (v2).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class TaskEvent(Base):
    """One committed status change; ``position`` orders a project's log in commit order."""

    __tablename__ = "task_events"
    __table_args__ = (UniqueConstraint("project_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    position: Mapped[int]
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    old_status: Mapped[TaskStatus] = mapped_column(StatusType)
    new_status: Mapped[TaskStatus] = mapped_column(StatusType)
    task_version: Mapped[int]
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ = ["Task", "TaskEvent"]
