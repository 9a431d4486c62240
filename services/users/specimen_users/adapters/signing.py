"""RS256 signing of access tokens (python-jose) and the public JWKS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jose import jwt

from specimen_kit.jwk import SIGNING_ALGORITHM, public_jwk


class RsaTokenSigner:
    """Signs claims with the private PEM; the header's ``kid`` is the key's JWK thumbprint.

    ``previous_public_pems`` are retired signing keys: published in the JWKS (after the current
    key) so that the tokens they signed still verify everywhere until they expire.
    """

    def __init__(self, private_pem: str, previous_public_pems: Sequence[str] = ()) -> None:
        self._private_pem = private_pem
        self._public_jwk = public_jwk(private_pem)
        retired = (public_jwk(pem) for pem in previous_public_pems)
        self._retired_jwks = [key for key in retired if key["kid"] != self._public_jwk["kid"]]

    @property
    def kid(self) -> str:
        return str(self._public_jwk["kid"])

    @property
    def jwks(self) -> dict[str, Any]:
        """The JWKS document: the current public key, then the retired ones."""
        return {"keys": [dict(self._public_jwk), *(dict(key) for key in self._retired_jwks)]}

    def sign(self, claims: dict[str, Any]) -> str:
        return str(jwt.encode(claims, self._private_pem, algorithm=SIGNING_ALGORITHM,
                              headers={"kid": self.kid}))
