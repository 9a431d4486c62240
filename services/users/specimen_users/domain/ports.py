"""What the use-cases need from storage, hashing and signing, as protocols.

Repositories never commit: the request's unit of work does, once, when the request succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from specimen_kit.revocations import Revocation
from specimen_users.domain.entities import (
    Hospital,
    HospitalFilter,
    NewRefreshToken,
    NewUser,
    RefreshToken,
    User,
    UserFilter,
)

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware UTC."""


class UserRepository(Protocol):
    def get(self, user_id: int) -> User | None: ...

    def get_by_email(self, email: str) -> User | None:
        """``email`` is already normalized."""
        ...

    def add(self, new: NewUser, *, acting: User | None = None) -> User:
        """Insert; raises :class:`~specimen_users.domain.errors.EmailTaken` on a duplicate.

        With ``acting``, only while that account's stored :attr:`~User.authority` is still the
        one read (``UserChangedMeanwhile`` for the caller otherwise), checked and written as one
        step; so for ``acting`` in :meth:`save` and :meth:`delete`."""
        ...

    def save(self, user: User, *, read: User, acting: User | None = None) -> User:
        """Store every field of ``user`` if the stored account is still the one ``read`` (its
        ``updated_at`` and ``token_version``); raises ``UserChangedMeanwhile`` when it is not,
        ``UserNotFound`` when it is gone, ``EmailTaken`` on a duplicate email."""
        ...

    def delete(self, user_id: int, *, acting: User) -> bool:
        """Delete the account; False when there was none (a concurrent delete came first)."""
        ...

    def confirm_authority(self, acting: User) -> None:
        """Lock ``acting``'s account until the transaction ends, raising ``UserChangedMeanwhile``
        for the caller when its stored :attr:`~User.authority` is no longer the one read: a write
        that follows in the same transaction is made on the authority it was allowed on."""
        ...

    def list(self, where: UserFilter, limit: int, offset: int) -> tuple[list[User], int]:
        """One page in ``where.sort`` order (ties by id), and the total matching ``where``."""
        ...


class HospitalRepository(Protocol):
    def get(self, hospital_id: str) -> Hospital | None: ...

    def find_same(self, key: str) -> Hospital | None:
        """The hospital whose id, or the slug of whose name, is ``key``."""
        ...

    def add(self, hospital: Hospital) -> Hospital:
        """Insert; raises :class:`~specimen_users.domain.errors.HospitalTaken` when the id or
        the name's slug is taken (the unique indexes settle a race the domain's check lost)."""
        ...

    def save(self, hospital: Hospital) -> Hospital:
        """Store the name and ``updated_at``; raises ``HospitalTaken`` like :meth:`add`."""
        ...

    def list(self, where: HospitalFilter, limit: int, offset: int) -> tuple[list[Hospital], int]:
        """One page in ``where.sort`` order (ties by id), and the total matching ``where``."""
        ...


class RefreshTokenRepository(Protocol):
    def add(self, token: NewRefreshToken) -> None: ...

    def get_by_hash(self, token_hash: str) -> RefreshToken | None: ...

    def revoke_if_active(self, token_id: int, at: datetime) -> bool:
        """Revoke one token; False when it was already revoked (a concurrent use won)."""
        ...

    def revoke_family(self, family_id: str, at: datetime) -> None: ...

    def revoke_all_for_user(self, user_id: int, at: datetime) -> None: ...


class RevocationRepository(Protocol):
    def add(self, revocation: Revocation) -> None:
        """Record one revocation (several for one user may coexist; the highest counts)."""
        ...

    def active(self, now: datetime) -> list[Revocation]:
        """The revocations whose ``until`` is after ``now``, one per user (the highest)."""
        ...

    def forget_expired(self, now: datetime) -> None: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password: str, password_hash: str) -> bool:
        """False for a wrong password, including one bcrypt cannot take (> 72 bytes)."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    @property
    def dummy_hash(self) -> str:
        """A hash made at start-up, verified against when the email is unknown."""
        ...


class TokenSigner(Protocol):
    def sign(self, claims: dict[str, Any]) -> str: ...
