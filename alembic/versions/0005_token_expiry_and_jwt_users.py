"""Tokens expire; users may come from a host app's JWTs (issuer + subject, no password).

Tokens issued before this revision expire 30 days (the default TTL) after the upgrade.

On SQLite this never rebuilds the users table: dropping it, as a batch rebuild does,
would cascade to every row that references a user. Only api_tokens, which no table
references, is rebuilt (to make expires_at NOT NULL).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default TASKBELL_TOKEN_TTL_SECONDS; a fixed value keeps the migration reproducible.
EXISTING_TOKENS_TTL = timedelta(days=30)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(tokens.update().values(expires_at=datetime.now(UTC) + EXISTING_TOKENS_TTL))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "expires_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )

    # ADD COLUMN and CREATE INDEX: neither rebuilds the table on SQLite.
    op.add_column("users", sa.Column("issuer", sa.String(length=500), nullable=True))
    op.add_column("users", sa.Column("subject", sa.String(length=255), nullable=True))
    op.create_index("uq_users_issuer_subject", "users", ["issuer", "subject"], unique=True)


def downgrade() -> None:
    # JWT users stay, with their empty password hash (no password matches it).
    # Plain DROP COLUMN (SQLite 3.35+), again so the users table is never rebuilt.
    op.drop_index("uq_users_issuer_subject", table_name="users")
    op.drop_column("users", "subject")
    op.drop_column("users", "issuer")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
