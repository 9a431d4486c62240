"""Use-cases on accounts: read, list, create, update, delete, change password, bootstrap."""

from __future__ import annotations

import logging
from dataclasses import replace

from specimen_kit.hospitals import hospital_slug
from specimen_kit.revocations import TokenRevoked
from specimen_kit.roles import Role
from specimen_users.domain import policy
from specimen_users.domain.entities import NewUser, User, UserChanges, UserDraft, UserFilter, UserPage
from specimen_users.domain.errors import (
    AccountUnavailable,
    CurrentPasswordIncorrect,
    EmailTaken,
    UserNotFound,
)
from specimen_users.domain.hospitals import HospitalDirectory
from specimen_users.domain.ports import (
    Clock,
    PasswordHasher,
    RefreshTokenRepository,
    UserRepository,
)
from specimen_users.domain.revocation import REVOKING_CHANGES, TokenRevoker
from specimen_users.domain.validation import (
    check_password,
    normalize_email,
    normalize_full_name,
)

logger = logging.getLogger(__name__)


class AccountService:
    """Accounts as seen by an authenticated caller (the *actor*), policy applied.

    A user's ``hospital`` is the id of a hospital of the list; a body may name it by id or
    name (:meth:`HospitalDirectory.existing_id`), an unknown one is a 422.
    """

    def __init__(self, users: UserRepository, refresh_tokens: RefreshTokenRepository,
                 hasher: PasswordHasher, clock: Clock, revoker: TokenRevoker,
                 hospitals: HospitalDirectory) -> None:
        self._hospitals = hospitals
        self._users = users
        self._refresh_tokens = refresh_tokens
        self._hasher = hasher
        self._clock = clock
        self._revoker = revoker

    def active_user(self, user_id: int, token_version: int) -> User:
        """The caller behind a valid token, read fresh so role and hospital are current.

        Raises
        ------
        AccountUnavailable
            The user was deleted or deactivated after the token was issued.
        TokenRevoked
            The token was issued before the user's rights changed or a logout
            (its version is not the user's).
        """
        user = self._users.get(user_id)
        if user is None or not user.is_active:
            raise AccountUnavailable("The account of this token no longer exists or is inactive.")
        if token_version != user.token_version:
            raise TokenRevoked("This token was revoked: the account's rights changed or its "
                               "session ended since it was issued. Sign in again.")
        return user

    def list_users(self, actor: User, where: UserFilter, limit: int, offset: int) -> UserPage:
        """One page of the users ``actor`` may see, in ``where.sort`` order."""
        requested = replace(where, hospital=(
            hospital_slug(where.hospital) if where.hospital is not None else None))
        scoped = policy.list_scope(actor, requested)
        if scoped is None:
            return UserPage(items=[], total=0, limit=limit, offset=offset)
        items, total = self._users.list(scoped, limit, offset)
        return UserPage(items=items, total=total, limit=limit, offset=offset)

    def get_user(self, actor: User, user_id: int) -> User:
        """``user_id`` if ``actor`` may see it, else :class:`UserNotFound`."""
        target = self._users.get(user_id)
        if target is None:
            raise UserNotFound(user_id)
        policy.ensure_visible(actor, target)
        return target

    def create_user(self, actor: User, draft: UserDraft) -> User:
        """Create an account as ``actor``, policy applied and fields normalized."""
        draft = replace(
            draft,
            email=normalize_email(draft.email),
            full_name=normalize_full_name(draft.full_name),
            hospital=(self._hospitals.existing_id(draft.hospital)
                      if draft.hospital is not None else None),
        )
        hospital = policy.authorize_create(actor, draft)
        check_password(draft.password)
        if self._users.get_by_email(draft.email) is not None:
            raise EmailTaken(f"A user with the email {draft.email} already exists.")
        user = self._users.add(NewUser(
            email=draft.email, full_name=draft.full_name, hospital=hospital, role=draft.role,
            is_active=draft.is_active, password_hash=self._hasher.hash(draft.password),
            created_at=self._clock(),
        ), acting=actor)
        logger.info("user created", extra={"user_id": user.id, "by": actor.id,
                                           "role": user.role.value})
        return user

    def update_user(self, actor: User, user_id: int, changes: UserChanges) -> User:
        """Apply a partial update as ``actor``.

        A new password or a deactivation ends every session (refresh tokens); those and a
        role or hospital change also void the user's access tokens.
        """
        target = self.get_user(actor, user_id)
        changes = replace(
            changes,
            email=normalize_email(changes.email) if changes.email is not None else None,
            full_name=(normalize_full_name(changes.full_name)
                       if changes.full_name is not None else None),
            hospital=(self._hospitals.existing_id(changes.hospital)
                      if changes.hospital is not None else None),
        )
        policy.authorize_update(actor, target, changes)
        changed = changes.changed_fields(target)
        if not changed:
            return target
        if "email" in changed and self._users.get_by_email(changes.email or "") is not None:
            raise EmailTaken(f"A user with the email {changes.email} already exists.")
        now = self._clock()
        updated = replace(
            target,
            email=changes.email or target.email,
            full_name=changes.full_name or target.full_name,
            hospital=changes.hospital or target.hospital,
            role=changes.role or target.role,
            is_active=target.is_active if changes.is_active is None else changes.is_active,
            updated_at=now,
        )
        if changes.password is not None:
            check_password(changes.password)
            updated.password_hash = self._hasher.hash(changes.password)
        if changed & REVOKING_CHANGES:
            updated = self._revoker.revoked(updated)
        saved = self._users.save(updated, read=target, acting=actor)
        # A new password or a deactivation must end every session, not only future logins.
        if "password" in changed or changes.is_active is False:
            self._refresh_tokens.revoke_all_for_user(target.id, now)
        logger.info("user updated", extra={"user_id": target.id, "by": actor.id,
                                           "fields": sorted(changed)})
        return saved

    def delete_user(self, actor: User, user_id: int) -> None:
        """Delete an account as ``actor``, revoking its refresh and access tokens."""
        target = self.get_user(actor, user_id)
        policy.authorize_delete(actor, target)
        # The accounts first: their rows are locked before any other, as in every write.
        if not self._users.delete(target.id, acting=actor):
            raise UserNotFound(target.id)  # deleted by a concurrent request since it was read
        self._refresh_tokens.revoke_all_for_user(target.id, self._clock())
        self._revoker.revoke_forever(target.id)
        logger.info("user deleted", extra={"user_id": target.id, "by": actor.id})

    def change_password(self, actor: User, current_password: str, new_password: str) -> None:
        """Change ``actor``'s own password after checking the current one; ends every session.

        Raises
        ------
        CurrentPasswordIncorrect
            ``current_password`` is wrong (403; the token itself is valid).
        WeakPassword, PasswordTooLong
            ``new_password`` breaks the password policy.
        """
        if not self._hasher.verify(current_password, actor.password_hash):
            raise CurrentPasswordIncorrect("The current password is not correct.")
        check_password(new_password)
        now = self._clock()
        self._users.save(self._revoker.revoked(replace(
            actor, password_hash=self._hasher.hash(new_password), updated_at=now)), read=actor)
        self._refresh_tokens.revoke_all_for_user(actor.id, now)
        logger.info("password changed", extra={"user_id": actor.id})

    def bootstrap_admin(self, email: str, password: str, hospital: str) -> bool:
        """Create the first admin unless a user with ``email`` exists; True when created.

        ``hospital`` is a name (or id): the hospital is created first when missing.

        Several replicas may start at once: the loser of the race meets the unique index,
        which is the same as finding the user.
        """
        email = normalize_email(email)
        if self._users.get_by_email(email) is not None:
            return False
        check_password(password)
        hospital_id = self._hospitals.ensure(hospital).id
        try:
            self._users.add(NewUser(
                email=email, full_name="Administrator", hospital=hospital_id,
                role=Role.ADMIN, is_active=True, password_hash=self._hasher.hash(password),
                created_at=self._clock(),
            ))
        except EmailTaken:
            return False
        logger.info("first admin created", extra={"email": email})
        return True
