"""The revocations users serves: kept while a voided token may live, pruned on writes only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from specimen_kit.roles import Role
from specimen_users.domain.revocation import CLOCK_SKEW, TokenRevoker


class TestTokenRevoker:
    def test_a_revocation_is_served_until_every_token_it_voids_has_expired(
            self, revoker: TokenRevoker, clock: Any, user_factory: Any) -> None:
        raised = revoker.revoked(user_factory(3, Role.TECHNICIAN, token_version=4))
        assert raised.token_version == 5
        assert [(r.user_id, r.min_version) for r in revoker.active()] == [(3, 5)]
        clock.now += timedelta(minutes=15) + CLOCK_SKEW - timedelta(seconds=1)
        assert [r.user_id for r in revoker.active()] == [3]
        clock.now += timedelta(seconds=1)
        assert revoker.active() == []

    def test_reading_writes_nothing_and_the_next_revocation_prunes(
            self, revoker: TokenRevoker, revocations: Any, clock: Any, user_factory: Any) -> None:
        # Every replica of gateway, segment and classify reads twice a second: a read that
        # deleted expired rows was a write transaction on the users database each time.
        revoker.revoked(user_factory(3, Role.TECHNICIAN))
        clock.now += timedelta(hours=1)
        assert revoker.active() == [] and len(revocations.rows) == 1
        revoker.revoke_forever(4)
        assert [r.user_id for r in revocations.rows] == [4]
