"""Access-token verification: RS256 pinned, keys from the users service's JWKS.

The users service is the only issuer; everyone else (gateway, segment, classify) verifies
locally with the published public keys, cached and refreshed when an unknown ``kid`` appears.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from jose import jwk, jwt
from jose.backends.base import Key
from jose.exceptions import ExpiredSignatureError, JWKError, JWTClaimsError, JWTError

from specimen_kit.errors import Problem, Unauthenticated
from specimen_kit.jwk import SIGNING_ALGORITHM
from specimen_kit.revocation_feed import polled_revocations
from specimen_kit.revocations import RevocationList
from specimen_kit.roles import Role
from specimen_kit.settings import ServiceSettings

logger = logging.getLogger(__name__)

REQUIRED_CLAIMS = ("sub", "role", "hospital", "exp", "iat", "iss", "jti")


class InvalidToken(Unauthenticated):
    """The bearer token is malformed, forged, expired or from another issuer: log in again."""

    title = "Invalid token"
    slug = "invalid-token"


KEYS_RETRY_AFTER_SECONDS = 5


class KeysUnavailable(Problem):
    """The token signing keys cannot be fetched from the users service; retry shortly."""

    status = 503
    title = "Token keys unavailable"
    slug = "token-keys-unavailable"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, retry_after=KEYS_RETRY_AFTER_SECONDS, **extensions)
        self.headers["Retry-After"] = str(KEYS_RETRY_AFTER_SECONDS)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: int
    role: Role
    hospital: str
    token: str
    # The user's token version when the token was issued (claim ``ver``, 0 when absent);
    # see :mod:`specimen_kit.revocations`.
    token_version: int = 0

    def at_least(self, minimum: Role) -> bool:
        return self.role.at_least(minimum)


class KeySource(Protocol):
    async def key_for(self, kid: str) -> dict[str, Any] | None: ...


class StaticKeySource:
    """Keys known in-process (the users service verifies with its own public keys)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = {key["kid"]: key for key in jwks["keys"]}

    async def key_for(self, kid: str) -> dict[str, Any] | None:
        return self._keys.get(kid)


class JwksClient:
    """A JWKS document fetched over HTTP, cached for ``ttl`` seconds.

    An unknown ``kid`` triggers a refresh (at most every ``min_refresh_interval`` seconds, so a
    flood of forged kids cannot hammer the users service). When a refresh fails the cached keys
    stay in use; with no keys at all verification answers 503.
    """

    def __init__(self, url: str, http: httpx.AsyncClient, ttl: float = 300.0,
                 min_refresh_interval: float = 5.0) -> None:
        self.url = url
        self._http = http
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> dict[str, Any] | None:
        now = time.monotonic()
        stale = now - self._fetched_at > self._ttl
        if stale or (kid not in self._keys and now - self._attempted_at > self._min_refresh_interval):
            await self.refresh()
        if not self._keys:
            raise KeysUnavailable(f"The signing keys could not be fetched from {self.url}.")
        return self._keys.get(kid)

    async def refresh(self) -> None:
        seen_attempt = self._attempted_at
        async with self._lock:
            if self._attempted_at != seen_attempt:  # another request refreshed while we waited
                return
            self._attempted_at = time.monotonic()
            try:
                response = await self._http.get(self.url, timeout=5.0)
                response.raise_for_status()
                keys = response.json()["keys"]
                self._keys = {key["kid"]: key for key in keys if key.get("kid")}
                self._fetched_at = self._attempted_at
            except (httpx.HTTPError, KeyError, TypeError, ValueError) as error:
                logger.warning("could not fetch JWKS", extra={"url": self.url, "error": str(error)})


class TokenVerifier:
    """Turns a bearer token into a :class:`Principal` or raises :class:`InvalidToken`.

    With ``revocations``, a genuine token whose user's rights changed since it was issued is
    refused too (:class:`~specimen_kit.revocations.TokenRevoked`). The users service passes
    none: it compares the version with the user's row itself.
    """

    def __init__(self, keys: KeySource, issuer: str, leeway_seconds: int = 0,
                 revocations: RevocationList | None = None) -> None:
        self._keys = keys
        self._issuer = issuer
        self._leeway = leeway_seconds
        self._revocations = revocations
        # python-jose rebuilds an RSA key from its JWK on every verification unless handed a
        # key object; building it once per key more than halves the cost of a verification.
        self._constructed: dict[tuple[str, str], Key] = {}

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError:
            raise InvalidToken("The token is not a well-formed JWT.") from None
        if header.get("alg") != SIGNING_ALGORITHM:
            raise InvalidToken(f"The token must be signed with {SIGNING_ALGORITHM}.")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("The token names no signing key (kid).")
        key = await self._keys.key_for(kid)
        if key is None:
            raise InvalidToken("The token is signed with an unknown key.")
        claims = self._decode(token, self._constructed_key(kid, key))
        principal = _principal(claims, token)
        if self._revocations is not None:
            self._revocations.ensure_current(principal)
        return principal

    async def check_ready(self) -> None:
        """Readiness check: the revocation list (if any) was fetched since start."""
        if self._revocations is not None:
            await self._revocations.check_loaded()

    def _constructed_key(self, kid: str, jwk_dict: dict[str, Any]) -> Key:
        cache_key = (kid, str(jwk_dict.get("n", "")))
        key = self._constructed.get(cache_key)
        if key is None:
            try:
                key = jwk.construct(jwk_dict, SIGNING_ALGORITHM)
            except JWKError:
                raise InvalidToken("The token's signing key is not a valid RSA key.") from None
            self._constructed[cache_key] = key
        return key

    def _decode(self, token: str, key: Key) -> dict[str, Any]:
        options: dict[str, bool | int] = {
            f"require_{claim}": True for claim in ("exp", "iat", "iss", "sub", "jti")
        }
        options.update(verify_aud=False, leeway=self._leeway)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[SIGNING_ALGORITHM], issuer=self._issuer, options=options
            )
        except ExpiredSignatureError:
            raise InvalidToken("The token has expired.") from None
        except JWTClaimsError as error:
            raise InvalidToken(f"The token's claims are not valid: {error}.") from None
        except JWTError:
            raise InvalidToken("The token's signature is not valid.") from None
        missing = [claim for claim in REQUIRED_CLAIMS if claim not in claims]
        if missing:
            raise InvalidToken(f"The token lacks the claims {', '.join(missing)}.")
        return claims


def _principal(claims: dict[str, Any], token: str) -> Principal:
    version = claims.get("ver", 0)
    # bool is an int in Python; a token saying ``"ver": true`` is not one users issued.
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise InvalidToken("The token's version (ver) is not a non-negative integer.")
    try:
        return Principal(user_id=int(claims["sub"]), role=Role(claims["role"]),
                         hospital=str(claims["hospital"]), token=token, token_version=version)
    except (ValueError, TypeError):
        raise InvalidToken("The token's subject or role is not valid.") from None


@asynccontextmanager
async def remote_token_verifier(settings: ServiceSettings) -> AsyncIterator[TokenVerifier]:
    """A verifier backed by the users service's JWKS and revocation list, for a lifespan to own.

    The revocation list is polled in the background while the context is open.
    """
    async with httpx.AsyncClient() as http, polled_revocations(
            settings.resolved_revocations_url, poll_seconds=settings.revocation_poll_seconds,
            max_staleness=settings.revocation_max_staleness_seconds, http=http) as revocations:
        keys = JwksClient(settings.jwks_url, http, ttl=settings.jwks_cache_seconds)
        yield TokenVerifier(keys, settings.jwt_issuer, revocations=revocations)
