"""RS256 signing of access tokens (python-jose) and the public JWKS."""

from __future__ import annotations

from typing import Any

from jose import jwt

from specimen_kit.jwk import SIGNING_ALGORITHM, public_jwk


class RsaTokenSigner:
    """Signs claims with the private PEM; the header's ``kid`` is the key's JWK thumbprint."""

    def __init__(self, private_pem: str) -> None:
        self._private_pem = private_pem
        self._public_jwk = public_jwk(private_pem)

    @property
    def kid(self) -> str:
        return str(self._public_jwk["kid"])

    @property
    def jwks(self) -> dict[str, Any]:
        """The JWKS document: the public key only."""
        return {"keys": [dict(self._public_jwk)]}

    def sign(self, claims: dict[str, Any]) -> str:
        return str(jwt.encode(claims, self._private_pem, algorithm=SIGNING_ALGORITHM,
                              headers={"kid": self.kid}))
