"""Verified access tokens remembered for a short while, so a client's burst costs one check.

RS256 verification through python-jose (signature, then claims) is the largest piece of the
gateway's own per-request work, while a client sends the same token for its whole lifetime.
A token that verified is remembered by its exact text until its ``exp`` or for ``max_age``
seconds, whichever comes first; a token that failed is never remembered, so a forgery is
checked (and refused) every time. ``max_age`` bounds how long a
signing key removed from the JWKS still vouches for tokens it signed.

Revocation is checked on every call, remembered token or not: a token revoked a second ago
must not ride on a verification made a minute ago.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from jose import jwt

from specimen_kit.revocations import RevocationList
from specimen_kit.tokens import Principal

DEFAULT_MAX_AGE_SECONDS = 60.0
DEFAULT_MAX_ENTRIES = 10_000


class Verifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


class CachingTokenVerifier:
    """A :class:`~specimen_kit.tokens.TokenVerifier` in front of a bounded memory of successes."""

    def __init__(self, verifier: Verifier, revocations: RevocationList, *,
                 max_age: float = DEFAULT_MAX_AGE_SECONDS,
                 max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.time) -> None:
        self._verifier = verifier
        self._revocations = revocations
        self._max_age = max_age
        self._max_entries = max_entries
        self._clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        principal = await self._verified_principal(token)
        self._revocations.ensure_current(principal)
        return principal

    async def _verified_principal(self, token: str) -> Principal:
        now = self._clock()
        known = self._verified.get(token)
        if known is not None:
            if now < known[1]:
                return known[0]
            del self._verified[token]
        principal = await self._verifier.verify(token)
        # The claims were just verified; reading them again unverified is only for ``exp``.
        expires = float(jwt.get_unverified_claims(token)["exp"])
        if len(self._verified) >= self._max_entries:
            self._forget_expired(now)
        self._verified[token] = (principal, min(expires, now + self._max_age))
        return principal

    def _forget_expired(self, now: float) -> None:
        self._verified = {t: entry for t, entry in self._verified.items() if entry[1] > now}
        if len(self._verified) >= self._max_entries:
            # Every entry is still live: drop the oldest half rather than grow without bound.
            keep = list(self._verified.items())[self._max_entries // 2:]
            self._verified = dict(keep)
