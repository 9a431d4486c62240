"""SQLAlchemy tables of the users service; the Alembic migrations must match them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from specimen_kit.database import UtcDateTime, named_metadata
from specimen_kit.hospitals import MAX_HOSPITAL_ID_CHARS, MAX_HOSPITAL_NAME_CHARS
from specimen_kit.roles import Role


class Base(DeclarativeBase):
    metadata = named_metadata()


ROLE_TYPE = Enum(Role, name="user_role", values_callable=lambda roles: [r.value for r in roles],
                 native_enum=False, length=16, validate_strings=True)


# Ids are never handed out twice (issue 9): SQLite reuses the largest rowid after a delete
# unless the table says AUTOINCREMENT; PostgreSQL's sequences never go back.
_NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class HospitalRow(Base):
    """The managed list of hospitals; rows are never deleted, so an id is never reused."""

    __tablename__ = "hospitals"

    # The slug of the name it was created with (specimen_kit.hospitals.hospital_slug).
    id: Mapped[str] = mapped_column(String(MAX_HOSPITAL_ID_CHARS), primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_HOSPITAL_NAME_CHARS))
    # The slug of the current name: unique, so no two hospitals show names that slug alike;
    # it is also the case- and accent-faithful key that ``q`` searches and ``sort=name`` orders.
    name_key: Mapped[str] = mapped_column(String(MAX_HOSPITAL_ID_CHARS), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = _NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored lower-cased by the domain, so a plain unique index is case-insensitive in effect.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # A hospital of the list, by id (its slug); hospitals are never deleted.
    hospital: Mapped[str] = mapped_column(ForeignKey("hospitals.id"), index=True)
    role: Mapped[Role] = mapped_column(ROLE_TYPE)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Raised whenever the user's access tokens must stop working (specimen_kit.revocations).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RefreshTokenRow(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_refresh_tokens_expires_at", "expires_at"), _NEVER_REUSE_IDS)


class TokenRevocationRow(Base):
    """One raise of a user's token version, kept while tokens it voids may still be alive.

    Not a foreign key: a deleted user's revocation must outlive the user's row.
    """

    __tablename__ = "token_revocations"
    __table_args__ = _NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    min_version: Mapped[int] = mapped_column(Integer)
    # When the last token this revocation voids expires; the row is useless after it.
    until: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
