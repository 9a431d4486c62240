"""Typed errors of the users service, rendered as problem+json by the kit's handlers."""

from __future__ import annotations

from typing import Any, ClassVar

from specimen_kit.errors import Forbidden, NotFound, Problem, Unauthenticated


class EmailTaken(Problem):
    status = 409
    title = "Email already registered"
    slug = "email-taken"


class InvalidCredentials(Unauthenticated):
    """One answer for unknown email, wrong password and inactive account (no enumeration)."""

    title = "Invalid credentials"
    slug = "invalid-credentials"

    def __init__(self, detail: str = "The email or password is not correct.",
                 **extensions: Any) -> None:
        super().__init__(detail, **extensions)


class InvalidRefreshToken(Unauthenticated):
    title = "Invalid refresh token"
    slug = "invalid-refresh-token"


class RefreshTokenReused(InvalidRefreshToken):
    """A revoked refresh token came back: someone holds a stolen copy.

    ``keeps_changes`` tells the request's unit of work to commit the family revocation the
    service made before raising, although the request itself fails.
    """

    keeps_changes: ClassVar[bool] = True


class AccountUnavailable(Unauthenticated):
    """The token is valid but its user was deleted or deactivated since it was issued."""

    title = "Account unavailable"
    slug = "account-unavailable"


class InvalidUserData(Problem):
    status = 422
    title = "Invalid user data"
    slug = "invalid-user-data"


class WeakPassword(InvalidUserData):
    title = "Password too weak"
    slug = "weak-password"


class PasswordTooLong(InvalidUserData):
    title = "Password too long"
    slug = "password-too-long"


class UserNotFound(NotFound):
    title = "User not found"
    slug = "user-not-found"

    def __init__(self, user_id: int) -> None:
        super().__init__(f"No user with id {user_id} is visible to you.", user_id=user_id)


class UserChangedMeanwhile(Problem):
    """Another request changed the account between this one's read of it and its write: saving
    would undo that change (a demotion undone by a password change running at the same time).
    Also when it changed the *caller's* authority meanwhile: two admins demoting each other at
    once would otherwise both succeed and leave the suite without an admin."""

    status = 409
    title = "User changed meanwhile"
    slug = "user-changed-meanwhile"

    def __init__(self, user_id: int, *, caller: bool = False) -> None:
        if caller:
            detail = (f"Your own account (user {user_id}) lost or changed the role, hospital, "
                      "activation or sessions this request was allowed on while it was being "
                      "handled; nothing was saved. Sign in again and repeat the change if it is "
                      "still yours to make.")
        else:
            detail = (f"User {user_id} was changed by another request while this one was being "
                      "handled; read it again and repeat the change.")
        super().__init__(detail, user_id=user_id)


class ActionForbidden(Forbidden):
    """The target is visible to the caller, but this action on it is not theirs to take.

    Answered as ``forbidden`` like every other refusal for want of rights: one condition, one
    type, in every service.
    """


class RoleChangeForbidden(Forbidden):
    title = "Role change forbidden"
    slug = "role-change-forbidden"


class SelfLockout(Problem):
    """An admin may not delete their own account: the suite could be left without an admin."""

    status = 409
    title = "Would lock you out"
    slug = "self-lockout"


class CurrentPasswordRequired(ActionForbidden):
    """Someone's own password is changed only with the current one, never by ``PATCH``."""

    title = "Current password required"
    slug = "current-password-required"


class CurrentPasswordIncorrect(Forbidden):
    """Wrong current password on a password change.

    403, not 401: the caller's token is fine, and a 401 would make clients drop their session.
    """

    title = "Current password incorrect"
    slug = "current-password-incorrect"


class HospitalNotFound(NotFound):
    title = "Hospital not found"
    slug = "hospital-not-found"

    def __init__(self, hospital_id: str) -> None:
        super().__init__(f"No hospital has the id {hospital_id!r}; GET /api/v1/hospitals "
                         "lists them.", hospital_id=hospital_id)


class UnknownHospital(InvalidUserData):
    """A user names a hospital id that is not in the list (422: the body is wrong, not the path)."""

    title = "Unknown hospital"
    slug = "unknown-hospital"

    def __init__(self, given: str, hospital_id: str) -> None:
        super().__init__(
            f"No hospital has the id {hospital_id!r} (from {given!r}); name one of "
            "GET /api/v1/hospitals, or ask an admin to create it with POST /api/v1/hospitals.",
            hospital=given, hospital_id=hospital_id)


class HospitalTaken(Problem):
    """A new name (or a rename) whose id is already a hospital's id or name (409)."""

    status = 409
    title = "Hospital already exists"
    slug = "hospital-taken"

    def __init__(self, name: str, existing_id: str, existing_name: str) -> None:
        super().__init__(
            f"{name!r} is the hospital {existing_name!r} (id {existing_id!r}), which exists "
            "already; use that one.", existing_id=existing_id, existing_name=existing_name)
