"""Access-token claims and refresh-token values."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from specimen_users.domain.entities import User

REFRESH_TOKEN_BYTES = 32


def access_claims(user: User, *, issuer: str, issued_at: datetime,
                  lifetime: timedelta, jti: str | None = None) -> dict[str, Any]:
    """The claims of an access token, as every Specimen service's verifier requires them.

    Parameters
    ----------
    user : User
        The subject; its role and hospital travel in the token so that other services can
        apply object-level rules without calling back.
    issuer : str
        ``iss``, checked by the verifiers (``SPECIMEN_JWT_ISSUER``).
    issued_at : datetime
        ``iat``, timezone-aware.
    lifetime : timedelta
        ``exp - iat``.
    jti : str, optional
        Token id; a random one by default.

    Returns
    -------
    dict
        ``sub`` (the user id as a string, as RFC 7519 wants), ``role``, ``hospital``, ``iss``,
        ``iat``, ``exp`` (integer seconds), ``jti`` and ``ver``, the user's token version
        (:mod:`specimen_users.domain.revocation`).
    """
    iat = int(issued_at.timestamp())
    return {
        "sub": str(user.id),
        "role": user.role.value,
        "hospital": user.hospital,
        "iss": issuer,
        "iat": iat,
        "exp": iat + int(lifetime.total_seconds()),
        "jti": jti or uuid.uuid4().hex,
        "ver": user.token_version,
    }


def new_refresh_token() -> str:
    """An opaque refresh token: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def new_token_family() -> str:
    """The id shared by a login's refresh token and all its rotations."""
    return uuid.uuid4().hex


def refresh_token_digest(token: str) -> str:
    """SHA-256 hex of the token: what is stored, so a database leak yields no usable token.

    A plain hash suffices (no salt, no bcrypt): the token has 256 random bits.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
