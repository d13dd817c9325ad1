"""Notifications get a per-recipient position, so notificationReceived can resume in commit order.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Existing notifications are numbered per recipient in id order, which is the
order they were delivered in before.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTERs on users, never a batch rebuild: on SQLite a rebuild of users with
    # foreign keys on would delete every row that references it (tokens, members).
    op.add_column(
        "users", sa.Column("notification_seq", sa.Integer(), server_default="0", nullable=False)
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE notifications SET position = (SELECT COUNT(*) FROM notifications AS earlier"
        " WHERE earlier.recipient_id = notifications.recipient_id"
        " AND earlier.id <= notifications.id)"
    )
    op.execute(
        "UPDATE users SET notification_seq = (SELECT COUNT(*) FROM notifications"
        " WHERE notifications.recipient_id = users.id)"
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("position", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(
            "uq_notifications_recipient_id_position", ["recipient_id", "position"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("uq_notifications_recipient_id_position")
        batch_op.drop_column("position")
    op.execute("ALTER TABLE users DROP COLUMN notification_seq")  # SQLite 3.35+, PostgreSQL
