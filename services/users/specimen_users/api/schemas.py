"""Request and response bodies, apart from the tables and the domain entities."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from specimen_kit.hospitals import MAX_HOSPITAL_NAME_CHARS
from specimen_kit.roles import Role
from specimen_kit.timestamps import Timestamp
from specimen_users.domain.entities import (
    Hospital,
    HospitalPage,
    IssuedTokens,
    User,
    UserChanges,
    UserDraft,
)
from specimen_users.domain.entities import UserPage as UserPageEntity
from specimen_users.domain.validation import (
    MAX_EMAIL_CHARS,
    MAX_FULL_NAME_CHARS,
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_CHARS,
)

# The 72-byte limit is the domain's (a 422 that names it): a schema max_length counts
# characters, and bcrypt's limit is in UTF-8 bytes. The loose cap here only keeps absurd bodies
# out; the minimum is a plain character count, so the schema states it too.
_MAX_PASSWORD_FIELD = 1024
PASSWORD_RULES = (f"At least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} "
                  "bytes in UTF-8 (characters outside ASCII take 2 to 4 bytes each: 36 times `é` is "
                  "the most of that letter); no NUL character. Longer is refused, never "
                  "truncated.")
_HOSPITAL_FIELD = ("A hospital of `GET /api/v1/hospitals`, by its `id` (its name is accepted "
                   "too and gives the same id); an unknown one is a 422 `unknown-hospital`.")
_HOSPITAL_ID_EXAMPLE = "general"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Request):
    """The body of ``POST /users``. Moderators create technicians of their own hospital only."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "email": "ada@general.example", "password": "correct horse battery",
        "full_name": "Ada Lovelace", "role": "technician", "hospital": _HOSPITAL_ID_EXAMPLE,
        "is_active": True}]})

    email: str = Field(max_length=MAX_EMAIL_CHARS, examples=["ada@general.example"],
                       description="Unique, compared without regard to case; stored lower-case.")
    password: str = Field(min_length=MIN_PASSWORD_CHARS, max_length=_MAX_PASSWORD_FIELD,
                          description=PASSWORD_RULES, json_schema_extra={"format": "password"})
    full_name: str = Field(max_length=MAX_FULL_NAME_CHARS, examples=["Ada Lovelace"],
                           description=f"1 to {MAX_FULL_NAME_CHARS} characters once trimmed.")
    role: Role = Field(default=Role.TECHNICIAN,
                       description="`technician` (default), `moderator` or `admin`.")
    hospital: str | None = Field(
        default=None, max_length=MAX_HOSPITAL_NAME_CHARS, examples=[_HOSPITAL_ID_EXAMPLE],
        description=f"{_HOSPITAL_FIELD} Defaults to the caller's hospital.")
    is_active: bool = Field(default=True,
                            description="False: the account exists but cannot sign in.")

    def to_draft(self) -> UserDraft:
        return UserDraft(email=self.email, password=self.password, full_name=self.full_name,
                         role=self.role, hospital=self.hospital, is_active=self.is_active)


class UserUpdate(_Request):
    """The body of ``PATCH /users/{id}``: only the fields given change. On their own account,
    non-admins change ``full_name`` only; nobody changes their own role or password here."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"full_name": "Ada King"}, {"is_active": False}]})

    email: str | None = Field(default=None, max_length=MAX_EMAIL_CHARS)
    full_name: str | None = Field(default=None, max_length=MAX_FULL_NAME_CHARS)
    hospital: str | None = Field(default=None, max_length=MAX_HOSPITAL_NAME_CHARS,
                                 description=_HOSPITAL_FIELD)
    role: Role | None = None
    is_active: bool | None = Field(default=None, description="False deactivates the account "
                                   "and ends its sessions.")
    password: str | None = Field(
        default=None, min_length=MIN_PASSWORD_CHARS, max_length=_MAX_PASSWORD_FIELD,
        description=f"Someone else's new password (a manager's reset). {PASSWORD_RULES}",
        json_schema_extra={"format": "password"})

    def to_changes(self) -> UserChanges:
        return UserChanges(email=self.email, full_name=self.full_name, hospital=self.hospital,
                           role=self.role, is_active=self.is_active, password=self.password)


class UserPublic(BaseModel):
    id: int
    email: str = Field(examples=["ada@general.example"])
    full_name: str = Field(examples=["Ada Lovelace"])
    hospital: str = Field(description="The id of the user's hospital (`GET /api/v1/hospitals/{id}` "
                                      "gives its name).", examples=[_HOSPITAL_ID_EXAMPLE])
    role: Role
    is_active: bool = Field(description="False: the account cannot sign in.")
    created_at: Timestamp
    updated_at: Timestamp

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


class HospitalCreate(_Request):
    name: str = Field(min_length=1, max_length=MAX_HOSPITAL_NAME_CHARS,
                      examples=["Newcomer Clinic"],
                      description="The display name; the id is made from it once, for good.")


class HospitalUpdate(_Request):
    name: str = Field(min_length=1, max_length=MAX_HOSPITAL_NAME_CHARS,
                      examples=["Newcomer Clinic (North)"],
                      description="The new display name; the id stays as it is.")


class HospitalPublic(BaseModel):
    id: str = Field(examples=["newcomer-clinic"], description=(
        "Stable and never reused: the slug of the name the hospital was created with (NFKC, "
        "case-folded, runs of other characters than letters and digits as one `-`)."))
    name: str = Field(examples=["Newcomer Clinic"])
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, hospital: Hospital) -> HospitalPublic:
        return cls(id=hospital.id, name=hospital.name, created_at=hospital.created_at,
                   updated_at=hospital.updated_at)


class HospitalPagePublic(BaseModel):
    items: list[HospitalPublic]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: HospitalPage) -> HospitalPagePublic:
        return cls(items=[HospitalPublic.of(h) for h in page.items], total=page.total,
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
    new_password: str = Field(min_length=MIN_PASSWORD_CHARS, max_length=_MAX_PASSWORD_FIELD,
                              description=PASSWORD_RULES)


class Jwks(BaseModel):
    keys: list[dict[str, str]]
