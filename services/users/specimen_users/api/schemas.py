"""Request and response bodies, apart from the tables and the domain entities."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from specimen_kit.roles import Role
from specimen_users.domain.entities import IssuedTokens, User, UserChanges, UserDraft
from specimen_users.domain.entities import UserPage as UserPageEntity
from specimen_users.domain.validation import (
    MAX_EMAIL_CHARS,
    MAX_FULL_NAME_CHARS,
    MAX_HOSPITAL_CHARS,
)

# Password limits are the domain's (a 422 that names the 72-byte limit), not a schema's: a
# schema max_length counts characters, and bcrypt's limit is in UTF-8 bytes. The loose cap
# here only keeps absurd bodies out.
_MAX_PASSWORD_FIELD = 1024


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Request):
    email: str = Field(max_length=MAX_EMAIL_CHARS, examples=["ada@general.example"])
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD_FIELD)
    full_name: str = Field(max_length=MAX_FULL_NAME_CHARS)
    role: Role = Role.TECHNICIAN
    hospital: str | None = Field(
        default=None, max_length=MAX_HOSPITAL_CHARS,
        description="Defaults to the caller's hospital.")
    is_active: bool = True

    def to_draft(self) -> UserDraft:
        return UserDraft(email=self.email, password=self.password, full_name=self.full_name,
                         role=self.role, hospital=self.hospital, is_active=self.is_active)


class UserUpdate(_Request):
    email: str | None = Field(default=None, max_length=MAX_EMAIL_CHARS)
    full_name: str | None = Field(default=None, max_length=MAX_FULL_NAME_CHARS)
    hospital: str | None = Field(default=None, max_length=MAX_HOSPITAL_CHARS)
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=_MAX_PASSWORD_FIELD)

    def to_changes(self) -> UserChanges:
        return UserChanges(email=self.email, full_name=self.full_name, hospital=self.hospital,
                           role=self.role, is_active=self.is_active, password=self.password)


class UserPublic(BaseModel):
    id: int
    email: str
    full_name: str
    hospital: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(id=user.id, email=user.email, full_name=user.full_name,
                   hospital=user.hospital, role=user.role, is_active=user.is_active,
                   created_at=user.created_at, updated_at=user.updated_at)


class UserPage(BaseModel):
    items: list[UserPublic]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: UserPageEntity) -> UserPage:
        return cls(items=[UserPublic.of(user) for user in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)


class LoginRequest(_Request):
    email: str = Field(max_length=MAX_EMAIL_CHARS)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD_FIELD)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    # The OAuth2 token type (RFC 6750), not a secret.
    token_type: str = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires.")

    @classmethod
    def of(cls, tokens: IssuedTokens) -> TokenPair:
        return cls(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                   token_type=tokens.token_type, expires_in=tokens.expires_in)


class RefreshRequest(_Request):
    refresh_token: str = Field(min_length=1, max_length=512)


class PasswordChange(_Request):
    current_password: str = Field(min_length=1, max_length=_MAX_PASSWORD_FIELD)
    new_password: str = Field(min_length=1, max_length=_MAX_PASSWORD_FIELD)


class Jwks(BaseModel):
    keys: list[dict[str, str]]
