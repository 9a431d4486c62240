"""Use-cases of authentication: login, refresh-token rotation, logout (throttling: ``login_throttle``)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from specimen_users.domain.entities import IssuedTokens, NewRefreshToken, User
from specimen_users.domain.errors import (
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    UserChangedMeanwhile,
)
from specimen_users.domain.ports import (
    Clock,
    PasswordHasher,
    RefreshTokenRepository,
    TokenSigner,
    UserRepository,
)
from specimen_users.domain.revocation import TokenRevoker
from specimen_users.domain.tokens import (
    access_claims,
    new_refresh_token,
    new_token_family,
    refresh_token_digest,
)
from specimen_users.domain.validation import login_email

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TokenLifetimes:
    issuer: str
    access: timedelta
    refresh: timedelta


class AuthService:
    """Login and refresh tokens. Runs synchronously: call it off the event loop (bcrypt)."""

    def __init__(self, users: UserRepository, refresh_tokens: RefreshTokenRepository,
                 hasher: PasswordHasher, signer: TokenSigner, lifetimes: TokenLifetimes,
                 clock: Clock, revoker: TokenRevoker) -> None:
        self._users = users
        self._refresh_tokens = refresh_tokens
        self._hasher = hasher
        self._signer = signer
        self._lifetimes = lifetimes
        self._clock = clock
        self._revoker = revoker

    def login(self, email: str, password: str) -> IssuedTokens:
        """Tokens for a correct email and password of an active user.

        Raises
        ------
        InvalidCredentials
            The same error, after the same bcrypt work, for an unknown email, a wrong password
            and an inactive account, so that neither answer nor timing tells them apart.
        """
        user = self._users.get_by_email(login_email(email))
        if user is None:
            self._hasher.verify(password, self._hasher.dummy_hash)
            raise InvalidCredentials()
        if not self._hasher.verify(password, user.password_hash) or not user.is_active:
            raise InvalidCredentials()
        if self._hasher.needs_rehash(user.password_hash):
            # Raising SPECIMEN_BCRYPT_ROUNDS upgrades stored hashes as users log in; a login
            # racing a change of the account leaves it to the next login. Its tokens carry the
            # version read, so a change that revoked them revokes these too.
            with contextlib.suppress(UserChangedMeanwhile):
                self._users.save(replace(user, password_hash=self._hasher.hash(password)), read=user)
        return self._issue(user, new_token_family())

    def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate ``refresh_token``: revoke it and issue a new pair in the same family.

        Raises
        ------
        RefreshTokenReused
            The token was already revoked; its whole family is revoked now (theft detection).
        InvalidRefreshToken
            Unknown or expired token, or its user is gone or inactive.
        """
        now = self._clock()
        stored = self._refresh_tokens.get_by_hash(refresh_token_digest(refresh_token))
        if stored is None:
            raise InvalidRefreshToken("The refresh token is not known.")
        if stored.revoked_at is not None or not self._refresh_tokens.revoke_if_active(stored.id, now):
            self._refresh_tokens.revoke_family(stored.family_id, now)
            logger.warning("revoked refresh token reused; family revoked",
                           extra={"user_id": stored.user_id, "family_id": stored.family_id})
            raise RefreshTokenReused("The refresh token was already used; sign in again.")
        if stored.expires_at <= now:
            raise InvalidRefreshToken("The refresh token has expired; sign in again.")
        user = self._users.get(stored.user_id)
        if user is None or not user.is_active:
            raise InvalidRefreshToken("The account of this refresh token is not active.")
        return self._issue(user, stored.family_id)

    def logout(self, refresh_token: str) -> None:
        """Revoke the session (the token's family) and every access token of its user.

        An access token names its user, not its session, so logging out voids the access
        tokens of the user's other sessions too; their refresh tokens still work, and their
        clients get a new access token by refreshing. An unknown token is ignored.
        """
        stored = self._refresh_tokens.get_by_hash(refresh_token_digest(refresh_token))
        if stored is None:
            return
        self._refresh_tokens.revoke_family(stored.family_id, self._clock())
        user = self._users.get(stored.user_id)
        # Only a live session's holder ends the access tokens: a rotated or revoked token,
        # as a thief might keep, must not let anyone sign the user out at will.
        if user is not None and stored.revoked_at is None:
            self._users.save(self._revoker.revoked(user), read=user)

    def _issue(self, user: User, family_id: str) -> IssuedTokens:
        now = self._clock()
        access = self._signer.sign(access_claims(
            user, issuer=self._lifetimes.issuer, issued_at=now, lifetime=self._lifetimes.access))
        refresh = new_refresh_token()
        self._refresh_tokens.add(NewRefreshToken(
            user_id=user.id, family_id=family_id, token_hash=refresh_token_digest(refresh),
            expires_at=now + self._lifetimes.refresh, created_at=now,
        ))
        return IssuedTokens(access_token=access, refresh_token=refresh,
                            expires_in=int(self._lifetimes.access.total_seconds()))

