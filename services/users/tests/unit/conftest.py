"""In-memory stand-ins for the domain's ports: the use-cases run without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from specimen_kit.revocations import Revocation
from specimen_kit.roles import Role
from specimen_users.domain.entities import (
    NewRefreshToken,
    NewUser,
    RefreshToken,
    User,
    UserFilter,
)
from specimen_users.domain.errors import EmailTaken, UserChangedMeanwhile, UserNotFound
from specimen_users.domain.revocation import TokenRevoker

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class MemoryUsers:
    def __init__(self) -> None:
        self.rows: dict[int, User] = {}
        self.last_id = 0  # ids are never reused, as in the real tables

    def get(self, user_id: int) -> User | None:
        user = self.rows.get(user_id)
        return None if user is None else replace(user)

    def get_by_email(self, email: str) -> User | None:
        return next((replace(u) for u in self.rows.values() if u.email == email), None)

    def add(self, new: NewUser, *, acting: User | None = None) -> User:
        if acting is not None:
            self._check_authority(acting)
        if any(u.email == new.email for u in self.rows.values()):
            raise EmailTaken(new.email)
        self.last_id += 1
        user = User(id=self.last_id, email=new.email, full_name=new.full_name,
                    hospital=new.hospital, role=new.role, is_active=new.is_active,
                    password_hash=new.password_hash, created_at=new.created_at,
                    updated_at=new.created_at)
        self.rows[user.id] = user
        return replace(user)

    def save(self, user: User, *, read: User, acting: User | None = None) -> User:
        if acting is not None and acting.id != user.id:
            self._check_authority(acting)
        stored = self.rows.get(user.id)
        if stored is None:
            raise UserNotFound(user.id)
        if (stored.updated_at, stored.token_version) != (read.updated_at, read.token_version):
            raise UserChangedMeanwhile(user.id)
        self.rows[user.id] = replace(user)
        return replace(user)

    def delete(self, user_id: int, *, acting: User) -> bool:
        self._check_authority(acting)
        return self.rows.pop(user_id, None) is not None

    def confirm_authority(self, acting: User) -> None:
        self._check_authority(acting)

    def _check_authority(self, acting: User) -> None:
        stored = self.rows.get(acting.id)
        if stored is None or stored.authority != acting.authority:
            raise UserChangedMeanwhile(acting.id, caller=True)

    def list(self, where: UserFilter, limit: int, offset: int) -> tuple[list[User], int]:
        found = [u for u in sorted(self.rows.values(), key=lambda u: u.id)
                 if where.role in (None, u.role) and where.hospital in (None, u.hospital)]
        return found[offset:offset + limit], len(found)


class MemoryRefreshTokens:
    def __init__(self) -> None:
        self.rows: dict[int, RefreshToken] = {}

    def add(self, token: NewRefreshToken) -> None:
        row_id = len(self.rows) + 1
        self.rows[row_id] = RefreshToken(
            id=row_id, user_id=token.user_id, family_id=token.family_id,
            token_hash=token.token_hash, expires_at=token.expires_at, revoked_at=None,
            created_at=token.created_at)

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        return next((t for t in self.rows.values() if t.token_hash == token_hash), None)

    def revoke_if_active(self, token_id: int, at: datetime) -> bool:
        token = self.rows[token_id]
        if token.revoked_at is not None:
            return False
        self.rows[token_id] = replace(token, revoked_at=at)
        return True

    def revoke_family(self, family_id: str, at: datetime) -> None:
        for row_id, token in self.rows.items():
            if token.family_id == family_id and token.revoked_at is None:
                self.rows[row_id] = replace(token, revoked_at=at)

    def revoke_all_for_user(self, user_id: int, at: datetime) -> None:
        for row_id, token in self.rows.items():
            if token.user_id == user_id and token.revoked_at is None:
                self.rows[row_id] = replace(token, revoked_at=at)


class MemoryRevocations:
    def __init__(self) -> None:
        self.rows: list[Revocation] = []

    def add(self, revocation: Revocation) -> None:
        self.rows.append(revocation)

    def active(self, now: datetime) -> list[Revocation]:
        highest: dict[int, Revocation] = {}
        for r in self.rows:
            if r.until > now.timestamp() and (r.user_id not in highest
                                              or r.min_version > highest[r.user_id].min_version):
                highest[r.user_id] = r
        return sorted(highest.values(), key=lambda r: r.user_id)

    def forget_expired(self, now: datetime) -> None:
        self.rows = [r for r in self.rows if r.until > now.timestamp()]


class PlainHasher:
    """Reversible 'hash' so that tests read clearly; the real bcrypt is tested through the API."""

    dummy_hash = "plain:"

    def __init__(self) -> None:
        self.verified: list[str] = []

    def hash(self, password: str) -> str:
        return "plain:" + password

    def verify(self, password: str, password_hash: str) -> bool:
        self.verified.append(password_hash)
        return password_hash == "plain:" + password

    def needs_rehash(self, password_hash: str) -> bool:
        return False


class RecordingSigner:
    def __init__(self) -> None:
        self.signed: list[dict[str, Any]] = []

    def sign(self, claims: dict[str, Any]) -> str:
        self.signed.append(claims)
        return f"access-{len(self.signed)}"


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def make_user(user_id: int, role: Role, hospital: str = "General", **fields: Any) -> User:
    values: dict[str, Any] = dict(
        id=user_id, email=f"user{user_id}@example.org", full_name=f"User {user_id}",
        hospital=hospital, role=role, is_active=True, password_hash="plain:password-1",
        created_at=T0, updated_at=T0)
    values.update(fields)
    return User(**values)


@pytest.fixture
def users() -> MemoryUsers:
    return MemoryUsers()


@pytest.fixture
def refresh_tokens() -> MemoryRefreshTokens:
    return MemoryRefreshTokens()


@pytest.fixture
def revocations() -> MemoryRevocations:
    return MemoryRevocations()


@pytest.fixture
def revoker(revocations: MemoryRevocations, clock: FakeClock) -> TokenRevoker:
    return TokenRevoker(revocations, timedelta(minutes=15), clock)


@pytest.fixture
def hasher() -> PlainHasher:
    return PlainHasher()


@pytest.fixture
def signer() -> RecordingSigner:
    return RecordingSigner()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def user_factory() -> Any:
    return make_user
