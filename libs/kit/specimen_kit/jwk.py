"""RSA keys as PEM and as JSON Web Keys (RFC 7517), with RFC 7638 thumbprints as key ids."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SIGNING_ALGORITHM = "RS256"


def generate_private_key_pem(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_jwk(pem: str) -> dict[str, Any]:
    """The public JWK of an RSA key given as a private or public PEM, ``kid`` = thumbprint."""
    data = pem.encode()
    if b"PRIVATE KEY" in data:
        loaded: Any = serialization.load_pem_private_key(data, password=None).public_key()
    else:
        loaded = serialization.load_pem_public_key(data)
    if not isinstance(loaded, rsa.RSAPublicKey):
        raise ValueError("only RSA keys are supported for RS256 signing")
    numbers = loaded.public_numbers()
    members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": SIGNING_ALGORITHM}


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


def split_pem_bundle(text: str) -> list[str]:
    """The PEM blocks of ``text`` (keys concatenated in one variable or file), in order.

    Examples
    --------
    >>> block = "-----BEGIN PUBLIC KEY-----\\nAA==\\n-----END PUBLIC KEY-----"
    >>> len(split_pem_bundle(f"{block}\\n{block}\\n")), split_pem_bundle(block) == [block]
    (2, True)
    """
    return [found.group(0) for found in _PEM_BLOCK.finditer(text)]
