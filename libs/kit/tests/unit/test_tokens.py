from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from fastapi import FastAPI

from specimen_kit.jwk import public_jwk, public_pem
from specimen_kit.roles import Role
from specimen_kit.testing import mint_token
from specimen_kit.tokens import (
    InvalidToken,
    JwksClient,
    KeysUnavailable,
    StaticKeySource,
    TokenVerifier,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _verifier(private_pem: str) -> TokenVerifier:
    return TokenVerifier(StaticKeySource({"keys": [public_jwk(private_pem)]}), "specimen-users")


class TestTokenVerifier:
    async def test_valid_token_gives_the_principal(self, private_pem: str) -> None:
        token = mint_token(private_pem, sub="42", role="moderator", hospital="St. Anne")
        principal = await _verifier(private_pem).verify(token)
        assert (principal.user_id, principal.role, principal.hospital) == (42, Role.MODERATOR, "St. Anne")

    async def test_tampered_payload_is_refused(self, private_pem: str) -> None:
        header, payload, signature = mint_token(private_pem, role="technician").split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["role"] = "admin"
        forged = ".".join([header, _b64(json.dumps(claims).encode()), signature])
        with pytest.raises(InvalidToken, match="signature"):
            await _verifier(private_pem).verify(forged)

    async def test_alg_none_is_refused(self, private_pem: str) -> None:
        kid = public_jwk(private_pem)["kid"]
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        payload = _b64(json.dumps({"sub": "1", "role": "admin", "hospital": "H",
                                   "iss": "specimen-users", "exp": time.time() + 60,
                                   "iat": time.time(), "jti": "x"}).encode())
        with pytest.raises(InvalidToken, match="RS256"):
            await _verifier(private_pem).verify(f"{header}.{payload}.")

    async def test_hs256_signed_with_the_public_key_is_refused(self, private_pem: str) -> None:
        kid = public_jwk(private_pem)["kid"]
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        payload = _b64(json.dumps({"sub": "1", "role": "admin", "hospital": "H",
                                   "iss": "specimen-users", "exp": time.time() + 60,
                                   "iat": time.time(), "jti": "x"}).encode())
        mac = hmac.new(public_pem(private_pem).encode(), f"{header}.{payload}".encode(), hashlib.sha256)
        with pytest.raises(InvalidToken, match="RS256"):
            await _verifier(private_pem).verify(f"{header}.{payload}.{_b64(mac.digest())}")

    async def test_expired_token_is_refused(self, private_pem: str) -> None:
        token = mint_token(private_pem, iat=int(time.time()) - 1000, exp=int(time.time()) - 10)
        with pytest.raises(InvalidToken, match="expired"):
            await _verifier(private_pem).verify(token)

    async def test_wrong_issuer_is_refused(self, private_pem: str) -> None:
        with pytest.raises(InvalidToken, match="claims"):
            await _verifier(private_pem).verify(mint_token(private_pem, iss="someone-else"))

    @pytest.mark.parametrize("claim", ["exp", "sub", "role", "hospital", "jti", "iat", "iss"])
    async def test_missing_claim_is_refused(self, private_pem: str, claim: str) -> None:
        with pytest.raises(InvalidToken):
            await _verifier(private_pem).verify(mint_token(private_pem, drop=(claim,)))

    async def test_unknown_role_is_refused(self, private_pem: str) -> None:
        with pytest.raises(InvalidToken, match="role"):
            await _verifier(private_pem).verify(mint_token(private_pem, role="superuser"))

    async def test_token_of_another_key_is_refused(self, private_pem: str, other_private_pem: str) -> None:
        with pytest.raises(InvalidToken, match="unknown key"):
            await _verifier(private_pem).verify(mint_token(other_private_pem))

    async def test_garbage_is_refused(self, private_pem: str) -> None:
        with pytest.raises(InvalidToken, match="well-formed"):
            await _verifier(private_pem).verify("not.a.jwt")


def _jwks_app(documents: list[dict[str, object]]) -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    served = [0]

    @app.get("/jwks")
    def jwks() -> dict[str, object]:
        served[0] += 1
        return documents[-1]

    return app, served


class TestJwksClient:
    async def test_keys_are_fetched_once_and_cached(self, private_pem: str) -> None:
        jwk = public_jwk(private_pem)
        app, served = _jwks_app([{"keys": [jwk]}])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://users") as http:
            client = JwksClient("http://users/jwks", http, ttl=300)
            assert await client.key_for(jwk["kid"]) == jwk
            assert await client.key_for(jwk["kid"]) == jwk
        assert served[0] == 1

    async def test_a_new_kid_triggers_a_refresh(self, private_pem: str, other_private_pem: str) -> None:
        old, new = public_jwk(private_pem), public_jwk(other_private_pem)
        documents: list[dict[str, object]] = [{"keys": [old]}]
        app, served = _jwks_app(documents)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://users") as http:
            client = JwksClient("http://users/jwks", http, ttl=300, min_refresh_interval=0)
            assert await client.key_for(old["kid"]) == old
            documents.append({"keys": [old, new]})
            assert await client.key_for(new["kid"]) == new
        assert served[0] == 2

    async def test_no_reachable_keys_is_a_503(self) -> None:
        async with httpx.AsyncClient() as http:
            client = JwksClient("http://127.0.0.1:9/jwks", http)
            with pytest.raises(KeysUnavailable):
                await client.key_for("any")
