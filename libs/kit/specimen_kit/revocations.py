"""Revoked access tokens, known to every service within about a second of the revocation.

An access token is a signed JWT that every service verifies on its own, so nothing but its
``exp`` would stop it once issued. The users service therefore keeps a per-user
*token version*: each token carries the version it was issued at (claim ``ver``; a token
without it is version 0), and deleting, deactivating, demoting or moving a user, changing
their password or logging out raises the version. Users publishes the recent raises as a
small list (``GET /.well-known/revocations``): *tokens of user U with a version below V are
void until T*, where T is when every such token has expired anyway. Each other service
(gateway, segment, classify) fetches the whole list every ``SPECIMEN_REVOCATION_POLL_SECONDS``
(:mod:`specimen_kit.revocation_feed`) and checks every authenticated request against it.

This module is pure (no HTTP client), so the users service's domain may use it too.

The check fails closed: a list not refreshed for ``SPECIMEN_REVOCATION_MAX_STALENESS_SECONDS``
(or never loaded since start) makes authenticated requests answer 503 with ``Retry-After``
rather than honour tokens that may have been revoked meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter

from specimen_kit.errors import Problem, Unauthenticated

NEVER_VALID_VERSION = 2**31 - 1
"""The version a deleted user's tokens must reach: none ever does (it fits a 32-bit column)."""

STALE_RETRY_AFTER_SECONDS = 1

REVOCATION_STALE_REFUSALS = Counter(
    "specimen_revocation_stale_refusals_total",
    "Authenticated requests answered 503 because the revocation list was out of date.")


class TokenRevoked(Unauthenticated):
    """The token is genuine, but its user's rights changed (or ended) after it was issued."""

    title = "Token revoked"
    slug = "token-revoked"


class RevocationsStale(Problem):
    """The list of revoked tokens is too old to vouch for any token (503, retry shortly)."""

    status = 503
    title = "Revocation list out of date"
    slug = "revocations-stale"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers["Retry-After"] = str(STALE_RETRY_AFTER_SECONDS)


@dataclass(frozen=True, slots=True)
class Revocation:
    """Tokens of ``user_id`` with a version below ``min_version`` are void until ``until``.

    ``until`` (epoch seconds) is when the last such token expires; after it the entry says
    nothing the tokens' own ``exp`` does not.
    """

    user_id: int
    min_version: int
    until: float


class VersionedPrincipal(Protocol):
    """What :meth:`RevocationList.ensure_current` reads from a principal."""

    @property
    def user_id(self) -> int: ...

    @property
    def token_version(self) -> int: ...


def revocations_document(revocations: Iterable[Revocation]) -> dict[str, Any]:
    """The JSON the users service serves: ``{"revocations": [{user, version, until}, ...]}``."""
    return {"revocations": [
        {"user": r.user_id, "version": r.min_version, "until": int(r.until)}
        for r in revocations
    ]}


def parse_revocations(document: Any) -> list[Revocation]:
    """The entries of :func:`revocations_document`'s output.

    Raises
    ------
    ValueError
        The document is not of that shape.
    """
    try:
        entries = document["revocations"]
        return [Revocation(int(e["user"]), int(e["version"]), float(e["until"]))
                for e in entries]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a revocation list: {error!r}") from None


class RevocationList:
    """The recent revocations, replaced as a whole by each successful fetch.

    Parameters
    ----------
    max_staleness : float
        Seconds after the last successful refresh beyond which every check fails closed.
    clock : callable, optional
        Epoch seconds; tests pass a fake one.
    """

    def __init__(self, max_staleness: float, clock: Callable[[], float] = time.time) -> None:
        self._max_staleness = max_staleness
        self._clock = clock
        self._entries: dict[int, Revocation] = {}
        self._refreshed_at: float | None = None

    def replace(self, revocations: Iterable[Revocation]) -> None:
        """Take a freshly fetched list; entries already expired are dropped."""
        now = self._clock()
        entries: dict[int, Revocation] = {}
        for revocation in revocations:
            known = entries.get(revocation.user_id)
            if revocation.until > now and (known is None
                                           or revocation.min_version > known.min_version):
                entries[revocation.user_id] = revocation
        self._entries = entries
        self._refreshed_at = now

    @property
    def age(self) -> float | None:
        """Seconds since the last successful refresh; None before the first."""
        return None if self._refreshed_at is None else self._clock() - self._refreshed_at

    async def check_loaded(self) -> None:
        """Readiness check: the list was fetched at least once since start.

        A list that goes stale later does not make the service unready (requests fail closed
        one by one instead), so that a users outage does not take every service out of its
        load balancer at once; but a new replica takes no traffic before it can check tokens.
        """
        if self._refreshed_at is None:
            raise RevocationsStale("The revocation list has not been fetched yet.")

    def is_stale(self) -> bool:
        age = self.age
        return age is None or age > self._max_staleness

    def ensure_current(self, principal: VersionedPrincipal) -> None:
        """Return when ``principal``'s token is not revoked.

        Raises
        ------
        RevocationsStale
            The list was never loaded, or not refreshed for ``max_staleness`` seconds (503).
        TokenRevoked
            The token's version is below its user's minimum valid version (401).
        """
        if self.is_stale():
            REVOCATION_STALE_REFUSALS.inc()
            raise RevocationsStale(
                "This service cannot tell whether your token was revoked: the users service's "
                "revocation list is out of date. Try again shortly.")
        revocation = self._entries.get(principal.user_id)
        if revocation is None:
            return
        if revocation.until <= self._clock():
            self._entries.pop(principal.user_id, None)
            return
        if principal.token_version < revocation.min_version:
            raise TokenRevoked("This token was revoked: the account's rights changed or its "
                               "session ended since it was issued. Sign in again.")

    def snapshot(self) -> Mapping[int, Revocation]:
        return dict(self._entries)
