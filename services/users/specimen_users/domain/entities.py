"""Entities of the users service as plain dataclasses, independent of storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from specimen_kit.roles import Role


@dataclass(slots=True)
class User:
    """A stored account; ``email`` is normalized (trimmed, lower case)."""

    id: int
    email: str
    full_name: str
    hospital: str
    role: Role
    is_active: bool
    password_hash: str
    created_at: datetime
    updated_at: datetime
    # The ``ver`` of the access tokens issued now; raising it voids the earlier ones.
    token_version: int = 0

    @property
    def authority(self) -> tuple[Role, str, bool, int]:
        """What the policy decides on when this account acts, and the version of its tokens: a
        change the account makes holds only while these are still what they were."""
        return self.role, self.hospital, self.is_active, self.token_version


@dataclass(frozen=True, slots=True)
class NewUser:
    """An account to insert; the repository assigns the id."""

    email: str
    full_name: str
    hospital: str
    role: Role
    is_active: bool
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserDraft:
    """What a caller asks to create; ``hospital`` None means the caller's own."""

    email: str
    password: str
    full_name: str
    role: Role = Role.TECHNICIAN
    hospital: str | None = None
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A partial update; ``None`` leaves the field as it is."""

    email: str | None = None
    full_name: str | None = None
    hospital: str | None = None
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = None

    def changed_fields(self, current: User) -> frozenset[str]:
        """Names of the fields whose requested value differs from ``current``."""
        changed = set()
        for name in ("email", "full_name", "hospital", "role", "is_active"):
            value = getattr(self, name)
            if value is not None and value != getattr(current, name):
                changed.add(name)
        if self.password is not None:
            changed.add("password")
        return frozenset(changed)


@dataclass(frozen=True, slots=True)
class SortOrder:
    """A listing's order: a field name and a direction (``-name`` in the query string)."""

    field: str = "id"
    descending: bool = False

    @classmethod
    def parse(cls, value: str) -> SortOrder:
        """``"name"`` → ascending by name, ``"-name"`` → descending (choices checked upstream)."""
        return cls(value.removeprefix("-"), value.startswith("-"))


@dataclass(frozen=True, slots=True)
class UserFilter:
    role: Role | None = None
    hospital: str | None = None
    sort: SortOrder = SortOrder()


@dataclass(frozen=True, slots=True)
class Hospital:
    """A hospital of the managed list. ``id`` is the slug of the name it was created with
    (:func:`specimen_kit.hospitals.hospital_slug`) and never changes, nor is it ever reused."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HospitalFilter:
    """``q``: a case-insensitive part of the display name."""

    q: str | None = None
    sort: SortOrder = SortOrder()


@dataclass(frozen=True, slots=True)
class HospitalPage:
    items: list[Hospital]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class UserPage:
    items: list[User]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A stored refresh token; only the SHA-256 of the opaque value is kept."""

    id: int
    user_id: int
    family_id: str
    token_hash: str
    expires_at: datetime
    revoked_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewRefreshToken:
    user_id: int
    family_id: str
    token_hash: str
    expires_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    # The OAuth2 token type (RFC 6750), not a secret.
    token_type: str = "bearer"  # noqa: S105
