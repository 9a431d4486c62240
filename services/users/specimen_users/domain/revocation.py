"""Ending a user's access tokens before they expire.

Every access token carries its user's *token version* (``ver``). Raising the version voids
every token issued before; the users service compares the two on each request, and publishes
each raise as a :class:`~specimen_kit.revocations.Revocation` for the other services, which
cannot read the users table. A revocation is kept until the last token it voids has expired
(the access-token lifetime, plus :data:`CLOCK_SKEW` for verifiers whose clocks run behind);
after that the tokens' own ``exp`` refuses them.

Raised on: deletion (to a version no token can have), deactivation, a role or hospital
change, a password change, and logout.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from specimen_kit.revocations import NEVER_VALID_VERSION, Revocation
from specimen_users.domain.entities import User
from specimen_users.domain.ports import Clock, RevocationRepository

CLOCK_SKEW = timedelta(seconds=60)

REVOKING_CHANGES = frozenset({"role", "hospital", "is_active", "password"})
"""Fields whose change ends the user's access tokens: the claims or the account changed."""


class TokenRevoker:
    """Raises token versions and records the revocations other services fetch."""

    def __init__(self, revocations: RevocationRepository, access_lifetime: timedelta,
                 clock: Clock) -> None:
        self._revocations = revocations
        self._keep_for = access_lifetime + CLOCK_SKEW
        self._clock = clock

    def revoked(self, user: User) -> User:
        """``user`` with its version raised; the caller saves it with the same transaction."""
        raised = replace(user, token_version=user.token_version + 1)
        self._record(user.id, raised.token_version)
        return raised

    def revoke_forever(self, user_id: int) -> None:
        """Void every token of a user about to be deleted."""
        self._record(user_id, NEVER_VALID_VERSION)

    def active(self) -> list[Revocation]:
        """The revocations some unexpired token may still meet, one per user.

        Read-only: every replica of every other service asks twice a second, so the expired
        rows are pruned when a revocation is written instead (rare, and a write anyway).
        """
        return self._revocations.active(self._clock())

    def _record(self, user_id: int, min_version: int) -> None:
        now = self._clock()
        self._revocations.forget_expired(now)
        self._revocations.add(Revocation(user_id, min_version, (now + self._keep_for).timestamp()))
