"""Token and role checks at the gateway, before anything reaches an upstream."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import pytest

from specimen_kit.jwk import public_jwk, public_pem

Gateway = Callable[..., httpx.Client]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(role: str = "admin") -> dict[str, object]:
    now = int(time.time())
    return {"sub": "1", "role": role, "hospital": "General", "iss": "specimen-users",
            "iat": now, "exp": now + 900, "jti": "j1"}


def _unsigned(private_pem: str) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": public_jwk(private_pem)["kid"]}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}."


def _hs256_with_public_key(private_pem: str) -> str:
    """The classic key-confusion forgery: HMAC keyed with the published RSA public key."""
    header = {"alg": "HS256", "typ": "JWT", "kid": public_jwk(private_pem)["kid"]}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}"
    key = public_pem(private_pem).encode()
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


class TestTokens:
    def test_missing_token_is_a_401_with_www_authenticate(self, gateway: Gateway) -> None:
        response = gateway().get("/api/v1/segment/otsu")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"

    def test_non_bearer_authorization_is_a_401(self, gateway: Gateway) -> None:
        response = gateway().get("/api/v1/segment/otsu", headers={"Authorization": "Basic eDp5"})
        assert response.status_code == 401

    @pytest.mark.parametrize("forge", ["tampered", "expired", "wrong_issuer", "alg_none",
                                       "hs256_public_key", "garbage", "missing_claim"])
    def test_forged_or_invalid_tokens_are_401(
        self, gateway: Gateway, token_for: Callable[..., str], private_pem: str, forge: str
    ) -> None:
        token = {
            "tampered": lambda: _tampered(token_for("technician")),
            "expired": lambda: token_for(exp=int(time.time()) - 5),
            "wrong_issuer": lambda: token_for(iss="someone-else"),
            "alg_none": lambda: _unsigned(private_pem),
            "hs256_public_key": lambda: _hs256_with_public_key(private_pem),
            "garbage": lambda: "not-a-jwt",
            "missing_claim": lambda: token_for(drop=("jti",)),
        }[forge]()
        response = gateway().get("/api/v1/segment/otsu",
                                 headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, response.text
        assert response.json()["type"].endswith(("/invalid-token", "/unauthenticated"))

    def test_a_valid_token_passes(self, gateway: Gateway, token_for: Callable[..., str]) -> None:
        response = gateway().get("/api/v1/auth/me",
                                 headers={"Authorization": f"Bearer {token_for()}"})
        assert response.status_code == 200


class TestRoles:
    @pytest.mark.parametrize(("method", "path", "role", "status"), [
        ("GET", "/api/v1/users", "technician", 403),
        ("GET", "/api/v1/users", "moderator", 200),
        ("DELETE", "/api/v1/users/3", "technician", 403),
        ("DELETE", "/api/v1/users/3", "moderator", 200),
        ("PATCH", "/api/v1/users/3", "technician", 200),
        ("POST", "/api/v1/models/cnn/train", "technician", 403),
        ("POST", "/api/v1/models/cnn/train", "admin", 200),
        ("GET", "/api/v1/models", "technician", 200),
    ])
    def test_the_route_role_is_enforced(
        self, gateway: Gateway, token_for: Callable[..., str],
        method: str, path: str, role: str, status: int,
    ) -> None:
        response = gateway().request(method, path,
                                     headers={"Authorization": f"Bearer {token_for(role)}"})
        assert response.status_code == status
        if status == 403:
            assert response.json()["type"].endswith("/forbidden")
