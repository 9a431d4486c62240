"""``/users``: accounts, with the access policy applied by the domain."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from specimen_kit.hospitals import MAX_HOSPITAL_NAME_CHARS
from specimen_kit.identifiers import RecordId
from specimen_kit.openapi_problems import documented_problems
from specimen_kit.paging import DEFAULT_LIMIT, Limit, Offset
from specimen_kit.roles import Role
from specimen_users.api.deps import Accounts, CurrentUser
from specimen_users.api.schemas import PasswordChange, UserCreate, UserPage, UserPublic, UserUpdate
from specimen_users.domain.entities import SortOrder, UserFilter

router = APIRouter(prefix="/users", tags=["users"])

UserSort = Literal["id", "-id", "email", "-email", "full_name", "-full_name", "role", "-role",
                   "hospital", "-hospital", "created_at", "-created_at", "updated_at",
                   "-updated_at"]

_UNKNOWN = {404: "No such user within your scope; others' look the same."}
_CREATE_CONFLICT = {409: "A user with this email already exists (email-taken), or your own role, hospital, "
                     "activity or sessions changed meanwhile (user-changed-meanwhile)."}
_INVALID = {422: "A field is invalid: the password rules (weak-password, password-too-long), "
                 "an unknown hospital (unknown-hospital), or any other (the problem names it)."}
_CONFLICT = {409: "The email is taken, the change would leave no active admin, or another request "
                  "changed the user or your own authority meanwhile (user-changed-meanwhile: read "
                  "again, repeat)."}


@router.get("", response_model=UserPage,
            summary="Users the caller may see (admin: all; moderator: own hospital)")
def list_users(
    actor: CurrentUser,
    accounts: Accounts,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
    role: Annotated[Role | None, Query(description="Only users of this role.")] = None,
    hospital: Annotated[str | None, Query(
        max_length=MAX_HOSPITAL_NAME_CHARS,
        description="Only users of this hospital (its id; a name gives the same id).")] = None,
    sort: Annotated[UserSort, Query(
        description="`field` ascending or `-field` descending; ties by id.")] = "id",
) -> UserPage:
    where = UserFilter(role=role, hospital=hospital, sort=SortOrder.parse(sort))
    return UserPage.of(accounts.list_users(actor, where, limit, offset))


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED,
             responses=documented_problems({**_CREATE_CONFLICT, **_INVALID}),
             summary="Create a user (moderators: technicians of their hospital)")
def create_user(body: UserCreate, actor: CurrentUser, accounts: Accounts) -> UserPublic:
    return UserPublic.of(accounts.create_user(actor, body.to_draft()))


@router.put("/me/password", status_code=status.HTTP_204_NO_CONTENT,
            responses=documented_problems({409: "Another request changed your account meanwhile "
                                                "(user-changed-meanwhile); nothing was changed."}),
            summary="Change your password (403 when the current one is wrong)")
def change_password(body: PasswordChange, actor: CurrentUser, accounts: Accounts) -> None:
    accounts.change_password(actor, body.current_password, body.new_password)


@router.get("/{user_id}", response_model=UserPublic, responses=documented_problems(_UNKNOWN),
            summary="One user within your scope")
def get_user(user_id: RecordId, actor: CurrentUser, accounts: Accounts) -> UserPublic:
    return UserPublic.of(accounts.get_user(actor, user_id))


@router.patch("/{user_id}", response_model=UserPublic,
              responses=documented_problems({**_UNKNOWN, **_CONFLICT, **_INVALID}),
              summary="Change some fields of a user")
def update_user(user_id: RecordId, body: UserUpdate, actor: CurrentUser,
                accounts: Accounts) -> UserPublic:
    return UserPublic.of(accounts.update_user(actor, user_id, body.to_changes()))


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=documented_problems({**_UNKNOWN, **_CONFLICT}), summary="Delete a user")
def delete_user(user_id: RecordId, actor: CurrentUser, accounts: Accounts) -> None:
    accounts.delete_user(actor, user_id)
