"""Repositories over a SQLAlchemy session. They flush, never commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from specimen_kit.database import begin_writing
from specimen_kit.hospitals import hospital_slug
from specimen_kit.revocations import Revocation
from specimen_users.adapters.models import (
    HospitalRow,
    RefreshTokenRow,
    TokenRevocationRow,
    UserRow,
)
from specimen_users.domain.entities import (
    Hospital,
    HospitalFilter,
    NewRefreshToken,
    NewUser,
    RefreshToken,
    SortOrder,
    User,
    UserFilter,
)
from specimen_users.domain.errors import (
    EmailTaken,
    HospitalNotFound,
    HospitalTaken,
    UserChangedMeanwhile,
    UserNotFound,
)

# The columns each listing may be sorted by (the API's documented ``sort`` choices).
USER_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "id": UserRow.id, "email": UserRow.email, "full_name": UserRow.full_name,
    "role": UserRow.role, "hospital": UserRow.hospital, "created_at": UserRow.created_at,
    "updated_at": UserRow.updated_at,
}
# ``name`` orders by the name's slug: case- and accent-insensitive alike on every database.
HOSPITAL_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "id": HospitalRow.id, "name": HospitalRow.name_key, "created_at": HospitalRow.created_at,
    "updated_at": HospitalRow.updated_at,
}


def _ordered(query: Select[Any], column: InstrumentedAttribute[Any], tie: InstrumentedAttribute[Any],
             order: SortOrder) -> Select[Any]:
    # The id breaks ties, so that pages never overlap or skip a row.
    if order.descending:
        return query.order_by(column.desc(), tie.desc())
    return query.order_by(column.asc(), tie.asc())


def _user(row: UserRow) -> User:
    return User(id=row.id, email=row.email, full_name=row.full_name, hospital=row.hospital,
                role=row.role, is_active=row.is_active, password_hash=row.password_hash,
                created_at=row.created_at, updated_at=row.updated_at,
                token_version=row.token_version)


def _check_authority(locked: dict[int, UserRow], acting: User) -> None:
    """The caller's account, locked, still has the authority its request was allowed on."""
    row = locked.get(acting.id)
    if row is None or _user(row).authority != acting.authority:
        raise UserChangedMeanwhile(acting.id, caller=True)


def _refresh_token(row: RefreshTokenRow) -> RefreshToken:
    return RefreshToken(id=row.id, user_id=row.user_id, family_id=row.family_id,
                        token_hash=row.token_hash, expires_at=row.expires_at,
                        revoked_at=row.revoked_at, created_at=row.created_at)


class SqlUserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, user_id: int) -> User | None:
        row = self._session.get(UserRow, user_id)
        return None if row is None else _user(row)

    def get_by_email(self, email: str) -> User | None:
        row = self._session.scalar(select(UserRow).where(UserRow.email == email))
        return None if row is None else _user(row)

    def add(self, new: NewUser, *, acting: User | None = None) -> User:
        if acting is not None:
            self.confirm_authority(acting)
        row = UserRow(email=new.email, full_name=new.full_name, hospital=new.hospital,
                      role=new.role, is_active=new.is_active, password_hash=new.password_hash,
                      created_at=new.created_at, updated_at=new.created_at, token_version=0)
        self._flush_unique_email(row, new.email)
        return _user(row)

    def save(self, user: User, *, read: User, acting: User | None = None) -> User:
        # Read afresh and locked until the transaction ends, so that the comparisons and the
        # write are one step.
        rows = self._locked(user.id, *(() if acting is None else (acting.id,)))
        if acting is not None and acting.id != user.id:
            _check_authority(rows, acting)
        row = rows.get(user.id)
        if row is None:
            # Deleted by a concurrent request since this one read it: as if the delete came first.
            raise UserNotFound(user.id)
        if (row.updated_at, row.token_version) != (read.updated_at, read.token_version):
            raise UserChangedMeanwhile(user.id)
        row.email = user.email
        row.full_name = user.full_name
        row.hospital = user.hospital
        row.role = user.role
        row.is_active = user.is_active
        row.password_hash = user.password_hash
        row.token_version = user.token_version
        row.updated_at = user.updated_at
        self._flush_unique_email(row, user.email)
        return _user(row)

    def delete(self, user_id: int, *, acting: User) -> bool:
        _check_authority(self._locked(user_id, acting.id), acting)
        result = self._session.execute(delete(UserRow).where(UserRow.id == user_id))
        return bool(getattr(result, "rowcount", 0))

    def confirm_authority(self, acting: User) -> None:
        _check_authority(self._locked(acting.id), acting)

    def _locked(self, *user_ids: int) -> dict[int, UserRow]:
        """The rows of ``user_ids`` read afresh, locked until the transaction ends (the rows on
        PostgreSQL, in id order so that two requests locking the same pair never deadlock; the
        database on SQLite)."""
        begin_writing(self._session)
        rows = self._session.scalars(
            select(UserRow).where(UserRow.id.in_(sorted(set(user_ids)))).order_by(UserRow.id)
            .with_for_update().execution_options(populate_existing=True))
        return {row.id: row for row in rows}

    def list(self, where: UserFilter, limit: int, offset: int) -> tuple[list[User], int]:
        query = select(UserRow)
        if where.role is not None:
            query = query.where(UserRow.role == where.role)
        if where.hospital is not None:
            query = query.where(UserRow.hospital == where.hospital)
        total = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        ordered = _ordered(query, USER_SORT_COLUMNS[where.sort.field], UserRow.id, where.sort)
        rows = self._session.scalars(ordered.limit(limit).offset(offset))
        return [_user(row) for row in rows], total

    def _flush_unique_email(self, row: UserRow, email: str) -> None:
        # A savepoint confines the failed INSERT/UPDATE, so the caller's transaction stays
        # usable: the domain's pre-check can lose a race, the unique index cannot.
        try:
            with self._session.begin_nested():
                self._session.add(row)
        except IntegrityError:
            raise EmailTaken(f"A user with the email {email} already exists.") from None


def _hospital(row: HospitalRow) -> Hospital:
    return Hospital(id=row.id, name=row.name, created_at=row.created_at,
                    updated_at=row.updated_at)


class SqlHospitalRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, hospital_id: str) -> Hospital | None:
        row = self._session.get(HospitalRow, hospital_id)
        return None if row is None else _hospital(row)

    def find_same(self, key: str) -> Hospital | None:
        row = self._session.scalar(select(HospitalRow).where(
            or_(HospitalRow.id == key, HospitalRow.name_key == key)).order_by(HospitalRow.id))
        return None if row is None else _hospital(row)

    def add(self, hospital: Hospital) -> Hospital:
        row = HospitalRow(id=hospital.id, name=hospital.name, name_key=hospital_slug(hospital.name),
                          created_at=hospital.created_at, updated_at=hospital.updated_at)
        self._flush_unique(row, hospital)
        return _hospital(row)

    def save(self, hospital: Hospital) -> Hospital:
        row = self._session.get(HospitalRow, hospital.id)
        if row is None:
            raise HospitalNotFound(hospital.id)
        row.name = hospital.name
        row.name_key = hospital_slug(hospital.name)
        row.updated_at = hospital.updated_at
        self._flush_unique(row, hospital)
        return _hospital(row)

    def list(self, where: HospitalFilter, limit: int, offset: int) -> tuple[list[Hospital], int]:
        query = select(HospitalRow)
        if where.q is not None:
            # ``q`` is a slug already (the domain made it one), like name_key.
            query = query.where(HospitalRow.name_key.contains(where.q, autoescape=True))
        total = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        ordered = _ordered(query, HOSPITAL_SORT_COLUMNS[where.sort.field], HospitalRow.id,
                           where.sort)
        return [_hospital(row) for row in
                self._session.scalars(ordered.limit(limit).offset(offset))], total

    def _flush_unique(self, row: HospitalRow, hospital: Hospital) -> None:
        # The domain's check can lose a race; the primary key and the unique name_key cannot.
        try:
            with self._session.begin_nested():
                self._session.add(row)
        except IntegrityError:
            raise HospitalTaken(hospital.name, hospital.id, hospital.name) from None


class SqlRefreshTokenRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, token: NewRefreshToken) -> None:
        self._session.add(RefreshTokenRow(
            user_id=token.user_id, family_id=token.family_id, token_hash=token.token_hash,
            expires_at=token.expires_at, created_at=token.created_at))
        self._session.flush()

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        row = self._session.scalar(
            select(RefreshTokenRow).where(RefreshTokenRow.token_hash == token_hash))
        return None if row is None else _refresh_token(row)

    def revoke_if_active(self, token_id: int, at: datetime) -> bool:
        # A conditional UPDATE: of two concurrent refreshes with one token, only one wins.
        result = self._session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.id == token_id, RefreshTokenRow.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0) == 1)

    def revoke_family(self, family_id: str, at: datetime) -> None:
        self._session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.family_id == family_id, RefreshTokenRow.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(synchronize_session=False))

    def revoke_all_for_user(self, user_id: int, at: datetime) -> None:
        self._session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.user_id == user_id, RefreshTokenRow.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(synchronize_session=False))


class SqlRevocationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, revocation: Revocation) -> None:
        self._session.add(TokenRevocationRow(
            user_id=revocation.user_id, min_version=revocation.min_version,
            until=datetime.fromtimestamp(revocation.until, UTC)))
        self._session.flush()

    def active(self, now: datetime) -> list[Revocation]:
        rows = self._session.execute(
            select(TokenRevocationRow.user_id, func.max(TokenRevocationRow.min_version),
                   func.max(TokenRevocationRow.until))
            .where(TokenRevocationRow.until > now)
            .group_by(TokenRevocationRow.user_id)
            .order_by(TokenRevocationRow.user_id))
        return [Revocation(user_id, min_version, until.timestamp())
                for user_id, min_version, until in rows]

    def forget_expired(self, now: datetime) -> None:
        self._session.execute(delete(TokenRevocationRow).where(TokenRevocationRow.until <= now))
