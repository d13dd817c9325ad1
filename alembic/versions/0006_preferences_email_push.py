"""Notification preferences, email state and Web Push (v2).

Per-member settings on users; per-project levels on project_members; who
created a task (PARTICIPATING); which email carried a notification (never
twice); browsers' push subscriptions; and keys generated once (VAPID).

On SQLite this never rebuilds the users table (a batch rebuild would cascade
to every row that references a user): only ADD COLUMN and CREATE INDEX.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNEMAILED = sa.text("read_at IS NULL AND emailed_at IS NULL")


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("email_mode", sa.String(length=20), nullable=False, server_default="IMMEDIATE"),
    )
    op.add_column(
        "users",
        sa.Column("push_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "users", sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC")
    )
    op.add_column("users", sa.Column("unsubscribe_token", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("email_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("uq_users_unsubscribe_token", "users", ["unsubscribe_token"], unique=True)
    op.create_index("ix_users_email_due_at", "users", ["email_due_at"])

    op.add_column(
        "project_members",
        sa.Column("notification_level", sa.String(length=20), nullable=False, server_default="ALL"),
    )
    _add_task_creator()
    op.add_column(
        "notifications", sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "notifications", sa.Column("email_message_id", sa.String(length=100), nullable=True)
    )
    op.create_index(
        "ix_notifications_unemailed",
        "notifications",
        ["recipient_id"],
        postgresql_where=UNEMAILED,
        sqlite_where=UNEMAILED,
    )

    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=2000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_push_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    op.create_index(
        op.f("ix_push_subscriptions_user_id"), "push_subscriptions", ["user_id"], unique=False
    )
    op.create_table(
        "server_keys",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_keys")),
    )


def _add_task_creator() -> None:
    """tasks.created_by_id with its foreign key, without rebuilding tasks on SQLite.

    A rebuild drops the table, and dropping it deletes (cascades to) the events
    log; SQLite accepts an inline REFERENCES in ADD COLUMN when the default is NULL.
    """
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE tasks ADD COLUMN created_by_id INTEGER"
            " REFERENCES users (id) ON DELETE SET NULL"
        )
        return
    op.add_column("tasks", sa.Column("created_by_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_tasks_created_by_id_users",
        "tasks",
        "users",
        ["created_by_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_table("server_keys")
    op.drop_index(op.f("ix_push_subscriptions_user_id"), table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    op.drop_index("ix_notifications_unemailed", table_name="notifications")
    op.drop_column("notifications", "email_message_id")
    op.drop_column("notifications", "emailed_at")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_tasks_created_by_id_users", "tasks", type_="foreignkey")
    op.drop_column("tasks", "created_by_id")
    op.drop_column("project_members", "notification_level")
    op.drop_index("ix_users_email_due_at", table_name="users")
    op.drop_index("uq_users_unsubscribe_token", table_name="users")
    for column in ("email_due_at", "unsubscribe_token", "time_zone", "push_enabled", "email_mode"):
        op.drop_column("users", column)
