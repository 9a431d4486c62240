"""Who may see, create, update and delete whom.

The rules, in order of precedence:

- a target outside the caller's scope is *not found* (404), never *forbidden*, so ids do not
  leak: admins see everyone, moderators their own hospital, technicians themselves;
- nobody changes their own role; an admin cannot deactivate (403) or delete (409) themself,
  so the suite cannot lose its last admin by accident;
- a moderator manages technicians of their own hospital only; other visible users are 403;
- on their own account, non-admins change ``full_name`` only;
- nobody changes their own password here: only ``PUT /users/me/password``, which asks for the
  current one, so a stolen access token cannot lock the owner out (issue 9). A manager
  (admin, or a moderator for their technicians) still sets someone else's.
"""

from __future__ import annotations

from specimen_kit.roles import Role
from specimen_users.domain.entities import User, UserChanges, UserDraft, UserFilter
from specimen_users.domain.errors import (
    ActionForbidden,
    CurrentPasswordRequired,
    RoleChangeForbidden,
    SelfLockout,
    UserNotFound,
)

SELF_EDITABLE_FIELDS = frozenset({"full_name"})


def can_see(actor: User, target: User) -> bool:
    """Whether ``target`` is within ``actor``'s scope at all."""
    if actor.role is Role.ADMIN or actor.id == target.id:
        return True
    return actor.role is Role.MODERATOR and target.hospital == actor.hospital


def ensure_visible(actor: User, target: User) -> None:
    """Raise :class:`UserNotFound` (404) when ``target`` is outside ``actor``'s scope."""
    if not can_see(actor, target):
        raise UserNotFound(target.id)


def _manages(actor: User, target: User) -> bool:
    if actor.role is Role.ADMIN:
        return True
    return (actor.role is Role.MODERATOR and target.role is Role.TECHNICIAN
            and target.hospital == actor.hospital)


def list_scope(actor: User, requested: UserFilter) -> UserFilter | None:
    """The filter ``actor`` may list with; None when the request can match nobody in scope.

    Raises
    ------
    ActionForbidden
        For technicians, who have no user list.
    """
    if actor.role is Role.ADMIN:
        return requested
    if actor.role is Role.MODERATOR:
        if requested.hospital is not None and requested.hospital != actor.hospital:
            return None
        return UserFilter(role=requested.role, hospital=actor.hospital)
    raise ActionForbidden("Technicians cannot list users; read your own account at /auth/me.")


def authorize_create(actor: User, draft: UserDraft) -> str:
    """Check that ``actor`` may create ``draft``; return the hospital the user will have.

    Raises
    ------
    ActionForbidden
        A technician creating anyone; a moderator creating a non-technician or a user of
        another hospital.
    """
    if actor.role is Role.ADMIN:
        return draft.hospital if draft.hospital is not None else actor.hospital
    if actor.role is Role.MODERATOR:
        if draft.role is not Role.TECHNICIAN:
            raise ActionForbidden("Moderators create technicians only.")
        if draft.hospital is not None and draft.hospital != actor.hospital:
            raise ActionForbidden("Moderators create users of their own hospital only.")
        return actor.hospital
    raise ActionForbidden("Technicians cannot create users.")


def authorize_update(actor: User, target: User, changes: UserChanges) -> None:
    """Check that ``actor`` may apply ``changes`` (already normalized) to ``target``.

    Raises
    ------
    UserNotFound
        ``target`` is outside ``actor``'s scope.
    RoleChangeForbidden
        ``actor`` changes their own role.
    CurrentPasswordRequired
        ``actor`` changes their own password without giving the current one.
    ActionForbidden
        Any other change that is not ``actor``'s to make.
    """
    ensure_visible(actor, target)
    changed = changes.changed_fields(target)
    if actor.id == target.id:
        if "role" in changed:
            raise RoleChangeForbidden("Nobody can change their own role.")
        if "password" in changed:
            raise CurrentPasswordRequired(
                "Change your own password with PUT /api/v1/users/me/password, which asks for "
                "the current one.")
        if actor.role is Role.ADMIN:
            if changes.is_active is False:
                raise ActionForbidden("An admin cannot deactivate their own account.")
            return
        refused = changed - SELF_EDITABLE_FIELDS
        if refused:
            raise ActionForbidden(
                f"On your own account you may change only full_name here, "
                f"not {', '.join(sorted(refused))}.")
        return
    if not _manages(actor, target):
        raise ActionForbidden(f"You cannot change user {target.id}.")
    if actor.role is Role.MODERATOR:
        if "role" in changed:
            raise RoleChangeForbidden("Moderators cannot change a technician's role.")
        if "hospital" in changed:
            raise ActionForbidden("Moderators cannot move users to another hospital.")


def authorize_delete(actor: User, target: User) -> None:
    """Check that ``actor`` may delete ``target``.

    Raises
    ------
    UserNotFound
        ``target`` is outside ``actor``'s scope.
    SelfLockout
        An admin deleting themself (409).
    ActionForbidden
        Anyone else deleting what they do not manage, themselves included.
    """
    ensure_visible(actor, target)
    if actor.id == target.id:
        if actor.role is Role.ADMIN:
            raise SelfLockout("An admin cannot delete their own account; ask another admin.")
        raise ActionForbidden("You cannot delete your own account; ask a manager.")
    if not _manages(actor, target):
        raise ActionForbidden(f"You cannot delete user {target.id}.")
