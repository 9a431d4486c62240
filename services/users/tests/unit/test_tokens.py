from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt

from specimen_kit.jwk import generate_private_key_pem, public_jwk
from specimen_kit.roles import Role
from specimen_kit.tokens import InvalidToken, StaticKeySource, TokenVerifier
from specimen_users.adapters.signing import RsaTokenSigner
from specimen_users.domain.entities import User
from specimen_users.domain.tokens import access_claims, new_refresh_token, refresh_token_digest

ISSUER = "specimen-users"


@pytest.fixture(scope="module")
def private_pem() -> str:
    return generate_private_key_pem()


def _user() -> User:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    return User(id=42, email="ada@example.org", full_name="Ada", hospital="General",
                role=Role.MODERATOR, is_active=True, password_hash="x", created_at=at,
                updated_at=at)


class TestAccessClaims:
    def test_claims_carry_identity_and_lifetime(self) -> None:
        issued = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
        claims = access_claims(_user(), issuer=ISSUER, issued_at=issued,
                               lifetime=timedelta(minutes=15), jti="abc")
        assert claims == {"sub": "42", "role": "moderator", "hospital": "General",
                          "iss": ISSUER, "iat": 1735732800, "exp": 1735732800 + 900,
                          "jti": "abc", "ver": 0}

    def test_each_token_gets_its_own_jti(self) -> None:
        now = datetime.now(UTC)
        first = access_claims(_user(), issuer=ISSUER, issued_at=now, lifetime=timedelta(1))
        second = access_claims(_user(), issuer=ISSUER, issued_at=now, lifetime=timedelta(1))
        assert first["jti"] != second["jti"]


class TestSigningRoundTrip:
    async def test_kit_verifier_accepts_signed_token(self, private_pem: str) -> None:
        signer = RsaTokenSigner(private_pem)
        token = signer.sign(access_claims(_user(), issuer=ISSUER, issued_at=datetime.now(UTC),
                                          lifetime=timedelta(minutes=15)))
        verifier = TokenVerifier(StaticKeySource(signer.jwks), ISSUER)
        principal = await verifier.verify(token)
        assert (principal.user_id, principal.role, principal.hospital) == (
            42, Role.MODERATOR, "General")

    def test_header_names_rs256_and_the_thumbprint_kid(self, private_pem: str) -> None:
        signer = RsaTokenSigner(private_pem)
        token = signer.sign({"sub": "1"})
        assert jwt.get_unverified_header(token) == {
            "alg": "RS256", "typ": "JWT", "kid": public_jwk(private_pem)["kid"]}

    def test_jwks_holds_no_private_member(self, private_pem: str) -> None:
        (key,) = RsaTokenSigner(private_pem).jwks["keys"]
        assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}

    async def test_expired_token_is_refused(self, private_pem: str) -> None:
        signer = RsaTokenSigner(private_pem)
        token = signer.sign(access_claims(
            _user(), issuer=ISSUER, issued_at=datetime.now(UTC) - timedelta(hours=1),
            lifetime=timedelta(minutes=15)))
        with pytest.raises(InvalidToken, match="expired"):
            await TokenVerifier(StaticKeySource(signer.jwks), ISSUER).verify(token)

    async def test_token_of_another_key_is_refused(self, private_pem: str) -> None:
        other = RsaTokenSigner(generate_private_key_pem())
        token = other.sign(access_claims(_user(), issuer=ISSUER, issued_at=datetime.now(UTC),
                                         lifetime=timedelta(minutes=15)))
        verifier = TokenVerifier(StaticKeySource(RsaTokenSigner(private_pem).jwks), ISSUER)
        with pytest.raises(InvalidToken, match="unknown key"):
            await verifier.verify(token)


class TestRefreshTokenValues:
    def test_tokens_are_long_and_distinct(self) -> None:
        tokens = {new_refresh_token() for _ in range(100)}
        assert len(tokens) == 100
        assert all(len(token) == 43 for token in tokens)

    def test_digest_is_sha256_hex(self) -> None:
        assert refresh_token_digest("abc") == (
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
