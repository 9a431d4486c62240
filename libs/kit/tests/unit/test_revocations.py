"""The revocation list every service checks tokens against (issue 9, finding 2)."""

from __future__ import annotations

import time

import httpx
import pytest

from specimen_kit.jwk import generate_private_key_pem, public_jwk
from specimen_kit.revocation_feed import RevocationPoller
from specimen_kit.revocations import (
    NEVER_VALID_VERSION,
    Revocation,
    RevocationList,
    RevocationsStale,
    TokenRevoked,
    parse_revocations,
    revocations_document,
)
from specimen_kit.roles import Role
from specimen_kit.testing import mint_token
from specimen_kit.tokens import InvalidToken, Principal, StaticKeySource, TokenVerifier

T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _principal(user_id: int = 7, version: int = 0) -> Principal:
    return Principal(user_id=user_id, role=Role.TECHNICIAN, hospital="General", token="t",
                     token_version=version)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def revocations(clock: FakeClock) -> RevocationList:
    return RevocationList(max_staleness=60.0, clock=clock)


class TestRevocationList:
    def test_a_token_below_the_minimum_version_is_revoked(
            self, revocations: RevocationList) -> None:
        revocations.replace([Revocation(7, 2, T0 + 900)])
        with pytest.raises(TokenRevoked) as caught:
            revocations.ensure_current(_principal(version=1))
        assert (caught.value.status, caught.value.slug) == (401, "token-revoked")

    def test_a_token_at_the_minimum_version_and_other_users_pass(
            self, revocations: RevocationList) -> None:
        revocations.replace([Revocation(7, 2, T0 + 900)])
        revocations.ensure_current(_principal(version=2))
        revocations.ensure_current(_principal(user_id=8, version=0))

    def test_a_deleted_users_tokens_never_pass(self, revocations: RevocationList) -> None:
        revocations.replace([Revocation(7, NEVER_VALID_VERSION, T0 + 900)])
        with pytest.raises(TokenRevoked):
            revocations.ensure_current(_principal(version=10_000))

    def test_an_entry_is_forgotten_once_every_token_it_voids_expired(
            self, revocations: RevocationList, clock: FakeClock) -> None:
        revocations.replace([Revocation(7, 2, T0 + 900)])
        clock.now = T0 + 900
        revocations.replace([Revocation(7, 2, T0 + 900)])  # the server's clock lags
        revocations.ensure_current(_principal(version=0))
        assert revocations.snapshot() == {}

    def test_the_highest_version_of_one_user_wins(self, revocations: RevocationList) -> None:
        revocations.replace([Revocation(7, 3, T0 + 900), Revocation(7, 1, T0 + 900)])
        with pytest.raises(TokenRevoked):
            revocations.ensure_current(_principal(version=2))

    def test_never_loaded_is_stale(self, revocations: RevocationList) -> None:
        with pytest.raises(RevocationsStale) as caught:
            revocations.ensure_current(_principal())
        assert caught.value.status == 503
        assert caught.value.headers["Retry-After"] == "1"

    def test_stale_after_max_staleness_without_a_refresh(
            self, revocations: RevocationList, clock: FakeClock) -> None:
        revocations.replace([])
        clock.now = T0 + 60
        revocations.ensure_current(_principal())
        clock.now = T0 + 60.5
        with pytest.raises(RevocationsStale):
            revocations.ensure_current(_principal())
        revocations.replace([])
        revocations.ensure_current(_principal())


    async def test_ready_once_loaded_and_still_ready_when_stale_later(
            self, revocations: RevocationList, clock: FakeClock) -> None:
        # A new replica must take no traffic before it can check tokens (the suite's first
        # /auth/me after /readyz was a 503 revocations-stale); a stale list later fails closed
        # per request but keeps the replica in its load balancer.
        with pytest.raises(RevocationsStale):
            await revocations.check_loaded()
        revocations.replace([])
        await revocations.check_loaded()
        clock.now = T0 + 3600
        await revocations.check_loaded()

class TestWireFormat:
    def test_document_round_trips(self) -> None:
        entries = [Revocation(7, 2, T0), Revocation(9, NEVER_VALID_VERSION, T0 + 1)]
        assert parse_revocations(revocations_document(entries)) == entries

    @pytest.mark.parametrize("document", [
        {}, {"revocations": "x"}, {"revocations": [{"user": 1}]}, [],
        {"revocations": [{"user": "a", "version": 1, "until": 1}]},
    ])
    def test_malformed_documents_are_value_errors(self, document: object) -> None:
        with pytest.raises(ValueError, match="not a revocation list"):
            parse_revocations(document)


class TestPoller:
    async def test_a_successful_fetch_replaces_the_list(self, clock: FakeClock) -> None:
        revocations = RevocationList(60.0, clock=clock)
        body = revocations_document([Revocation(7, 1, T0 + 900)])
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
        async with httpx.AsyncClient(transport=transport) as http:
            assert await RevocationPoller(revocations, http, "http://users/r", 0.5).refresh()
        with pytest.raises(TokenRevoked):
            revocations.ensure_current(_principal(version=0))

    async def test_a_failed_fetch_keeps_the_last_list_until_it_is_stale(
            self, clock: FakeClock) -> None:
        revocations = RevocationList(60.0, clock=clock)
        revocations.replace([Revocation(7, 1, T0 + 900)])
        transport = httpx.MockTransport(lambda request: httpx.Response(503))
        async with httpx.AsyncClient(transport=transport) as http:
            poller = RevocationPoller(revocations, http, "http://users/r", 0.5)
            assert not await poller.refresh()
            assert not await poller.refresh()
        with pytest.raises(TokenRevoked):
            revocations.ensure_current(_principal(version=0))
        clock.now = T0 + 61
        with pytest.raises(RevocationsStale):
            revocations.ensure_current(_principal(version=1))


class TestVerifierWithRevocations:
    @pytest.fixture(scope="class")
    def private_pem(self) -> str:
        return generate_private_key_pem()

    def _verifier(self, private_pem: str, revocations: RevocationList | None) -> TokenVerifier:
        return TokenVerifier(StaticKeySource({"keys": [public_jwk(private_pem)]}),
                             "specimen-users", revocations=revocations)

    async def test_the_version_claim_reaches_the_principal(self, private_pem: str) -> None:
        verifier = self._verifier(private_pem, None)
        assert (await verifier.verify(mint_token(private_pem, ver=3))).token_version == 3
        assert (await verifier.verify(mint_token(private_pem))).token_version == 0

    @pytest.mark.parametrize("version", [True, -1, "2", 1.5])
    async def test_a_version_that_is_not_a_natural_number_is_invalid(
            self, private_pem: str, version: object) -> None:
        with pytest.raises(InvalidToken, match="ver"):
            await self._verifier(private_pem, None).verify(mint_token(private_pem, ver=version))

    async def test_a_revoked_token_is_refused_after_its_signature_checks(
            self, private_pem: str) -> None:
        revocations = RevocationList(60.0)
        revocations.replace([Revocation(1, 1, time.time() + 900)])
        verifier = self._verifier(private_pem, revocations)
        with pytest.raises(TokenRevoked):
            await verifier.verify(mint_token(private_pem, sub="1", ver=0))
        assert (await verifier.verify(mint_token(private_pem, sub="1", ver=1))).user_id == 1
