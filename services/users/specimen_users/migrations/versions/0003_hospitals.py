"""Hospitals become a managed list (issue 10): users name one by its id.

Creates ``hospitals`` and fills it from the distinct hospitals of the existing users, in the
order of the users' ids: the first spelling met becomes the display name, and every spelling
with the same slug ("Newcomer Clinic", "newcomer clinic ") becomes that one hospital. Then
``users.hospital`` is rewritten to the slug and made a foreign key to ``hospitals.id``.

The id is :func:`specimen_kit.hospitals.legacy_hospital_id` (the slug, or for a value that
makes none, such as only punctuation, a hash of it), the same function the classify service's
migration applies to its scans, so both services agree on every id without reading each
other's tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from specimen_kit.database import UtcDateTime
from specimen_kit.hospitals import MAX_HOSPITAL_NAME_CHARS, legacy_hospital_id

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_users = sa.table("users", sa.column("id", sa.Integer()), sa.column("hospital", sa.String()))
_hospitals = sa.table(
    "hospitals", sa.column("id", sa.String()), sa.column("name", sa.String()),
    sa.column("name_key", sa.String()), sa.column("created_at", UtcDateTime()),
    sa.column("updated_at", UtcDateTime()))


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def legacy_hospital_ids(spellings: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The hospitals of the users in id order → (spelling → hospital id, hospital id → name)."""
    ids: dict[str, str] = {}
    names: dict[str, str] = {}
    for spelling in spellings:
        if spelling in ids:
            continue
        key = legacy_hospital_id(spelling)
        ids[spelling] = key
        names.setdefault(key, spelling.strip()[:MAX_HOSPITAL_NAME_CHARS] or key)
    return ids, names


def upgrade() -> None:
    sqlite = _is_sqlite()
    if sqlite:
        # Recreating users below drops the old table; with foreign keys on, that would cascade
        # to every refresh token (see 0002). First, before any row is written: pysqlite opens
        # its transaction at the first write, and inside one the PRAGMA does nothing.
        op.execute("PRAGMA foreign_keys=OFF")
    op.create_table(
        "hospitals",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("name_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hospitals"),
        sa.UniqueConstraint("name_key", name="uq_hospitals_name_key"),
    )
    bind = op.get_bind()
    spellings = list(bind.scalars(sa.select(_users.c.hospital).order_by(_users.c.id)))
    ids, names = legacy_hospital_ids(spellings)
    now = datetime.now(UTC)
    if names:
        op.bulk_insert(_hospitals, [
            {"id": key, "name": name, "name_key": key, "created_at": now, "updated_at": now}
            for key, name in names.items()])
    for spelling, key in ids.items():
        if spelling != key:
            bind.execute(sa.update(_users).where(_users.c.hospital == spelling)
                         .values(hospital=key))

    autoincrement = {"sqlite_autoincrement": True} if sqlite else {}
    with op.batch_alter_table("users", table_kwargs=autoincrement) as users:
        users.create_foreign_key("fk_users_hospital_hospitals", "hospitals", ["hospital"], ["id"])
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")


def downgrade() -> None:
    sqlite = _is_sqlite()
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    autoincrement = {"sqlite_autoincrement": True} if sqlite else {}
    with op.batch_alter_table("users", table_kwargs=autoincrement) as users:
        users.drop_constraint("fk_users_hospital_hospitals", type_="foreignkey")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
    # Back to free text: each user gets the hospital's display name.
    names = sa.select(_hospitals.c.name).where(_hospitals.c.id == _users.c.hospital)
    op.get_bind().execute(sa.update(_users).values(hospital=names.scalar_subquery()))
    op.drop_table("hospitals")
