"""Never reuse ids; token versions and the recent token revocations.

SQLite reuses the largest rowid after a delete unless a table is AUTOINCREMENT, which let a
new user inherit a deleted user's id and with it their tokens and images (issue 9). Batch
mode recreates users and refresh_tokens with AUTOINCREMENT, copying their rows; on
PostgreSQL the SERIAL sequences never go back, so only the columns and the table are added.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from specimen_kit.database import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    sqlite = _is_sqlite()
    if sqlite:
        # Recreating users drops the old table, and with foreign keys on, dropping it would
        # cascade to every refresh token. (A no-op inside a transaction: then the database
        # is new, as the same run applied 0001, and has no token to lose.)
        op.execute("PRAGMA foreign_keys=OFF")
    autoincrement = {"sqlite_autoincrement": True} if sqlite else {}
    # "always" recreates the table on SQLite even where the columns alone need no copy.
    recreate = "always" if sqlite else "auto"
    with op.batch_alter_table("users", recreate=recreate, table_kwargs=autoincrement) as users:
        users.add_column(sa.Column("token_version", sa.Integer(), nullable=False,
                                   server_default="0"))
    if sqlite:
        with op.batch_alter_table("refresh_tokens", recreate="always",
                                  table_kwargs=autoincrement):
            pass
    op.create_table(
        "token_revocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("min_version", sa.Integer(), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_token_revocations"),
        **autoincrement,
    )
    op.create_index("ix_token_revocations_until", "token_revocations", ["until"])
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")


def downgrade() -> None:
    op.drop_index("ix_token_revocations_until", table_name="token_revocations")
    op.drop_table("token_revocations")
    with op.batch_alter_table("users") as users:
        users.drop_column("token_version")
