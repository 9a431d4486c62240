from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from specimen_kit.roles import Role
from specimen_users.domain.auth import AuthService, TokenLifetimes
from specimen_users.domain.entities import NewUser
from specimen_users.domain.errors import (
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
)

LIFETIMES = TokenLifetimes(issuer="specimen-users", access=timedelta(minutes=15),
                           refresh=timedelta(days=14))


@pytest.fixture
def auth(users: Any, refresh_tokens: Any, hasher: Any, signer: Any, clock: Any,
         revoker: Any) -> AuthService:
    users.add(NewUser(email="ada@example.org", full_name="Ada", hospital="General",
                      role=Role.TECHNICIAN, is_active=True, password_hash="plain:password-1",
                      created_at=clock()))
    return AuthService(users, refresh_tokens, hasher, signer, LIFETIMES, clock, revoker)


class TestLogin:
    def test_correct_password_issues_a_pair(self, auth: AuthService, signer: Any) -> None:
        tokens = auth.login("  ADA@example.org", "password-1")
        assert tokens.access_token == "access-1"
        assert tokens.expires_in == 900
        assert signer.signed[0]["sub"] == "1"

    def test_unknown_email_verifies_against_the_dummy_hash(self, auth: AuthService,
                                                           hasher: Any) -> None:
        with pytest.raises(InvalidCredentials):
            auth.login("nobody@example.org", "password-1")
        assert hasher.verified == [hasher.dummy_hash]

    def test_wrong_password_and_inactive_user_fail_alike(self, auth: AuthService,
                                                         users: Any) -> None:
        with pytest.raises(InvalidCredentials) as wrong:
            auth.login("ada@example.org", "wrong-password")
        users.rows[1].is_active = False
        with pytest.raises(InvalidCredentials) as inactive:
            auth.login("ada@example.org", "password-1")
        assert wrong.value.detail == inactive.value.detail


class TestRefreshRotation:
    def test_refresh_revokes_the_old_token_and_keeps_the_family(
            self, auth: AuthService, refresh_tokens: Any) -> None:
        first = auth.login("ada@example.org", "password-1")
        second = auth.refresh(first.refresh_token)
        assert second.refresh_token != first.refresh_token
        old, new = refresh_tokens.rows[1], refresh_tokens.rows[2]
        assert old.revoked_at is not None and new.revoked_at is None
        assert old.family_id == new.family_id

    def test_reusing_a_rotated_token_revokes_the_whole_family(
            self, auth: AuthService, refresh_tokens: Any) -> None:
        first = auth.login("ada@example.org", "password-1")
        second = auth.refresh(first.refresh_token)
        other_session = auth.login("ada@example.org", "password-1")
        with pytest.raises(RefreshTokenReused) as caught:
            auth.refresh(first.refresh_token)
        assert caught.value.status == 401
        assert caught.value.keeps_changes
        with pytest.raises(RefreshTokenReused):
            auth.refresh(second.refresh_token)  # the thief's rotation is dead too
        auth.refresh(other_session.refresh_token)  # another login is another family

    def test_expired_token_is_refused(self, auth: AuthService, clock: Any) -> None:
        tokens = auth.login("ada@example.org", "password-1")
        clock.advance(timedelta(days=14, seconds=1))
        with pytest.raises(InvalidRefreshToken, match="expired"):
            auth.refresh(tokens.refresh_token)

    def test_unknown_token_is_refused(self, auth: AuthService) -> None:
        with pytest.raises(InvalidRefreshToken, match="not known"):
            auth.refresh("made-up")

    def test_inactive_user_cannot_refresh(self, auth: AuthService, users: Any) -> None:
        tokens = auth.login("ada@example.org", "password-1")
        users.rows[1].is_active = False
        with pytest.raises(InvalidRefreshToken):
            auth.refresh(tokens.refresh_token)

    def test_logout_revokes_the_session_and_ignores_unknown_tokens(
            self, auth: AuthService) -> None:
        tokens = auth.login("ada@example.org", "password-1")
        auth.logout(tokens.refresh_token)
        auth.logout("made-up")
        with pytest.raises(RefreshTokenReused):
            auth.refresh(tokens.refresh_token)


class TestAccessTokenVersion:
    def test_tokens_carry_the_users_version(self, auth: AuthService, signer: Any) -> None:
        auth.login("ada@example.org", "password-1")
        assert signer.signed[0]["ver"] == 0

    def test_logout_raises_the_version_and_publishes_it(
            self, auth: AuthService, signer: Any, users: Any, revocations: Any,
            clock: Any) -> None:
        laptop = auth.login("ada@example.org", "password-1")
        phone = auth.login("ada@example.org", "password-1")
        auth.logout(laptop.refresh_token)
        assert users.get(1).token_version == 1
        assert [(r.user_id, r.min_version) for r in revocations.active(clock())] == [(1, 1)]
        # The other session refreshes into a token of the new version.
        auth.refresh(phone.refresh_token)
        assert signer.signed[-1]["ver"] == 1

    def test_logout_with_a_revoked_token_changes_no_version(
            self, auth: AuthService, users: Any, revocations: Any) -> None:
        tokens = auth.login("ada@example.org", "password-1")
        auth.refresh(tokens.refresh_token)
        auth.logout(tokens.refresh_token)  # a rotated token, as a thief would keep
        assert users.get(1).token_version == 0
        assert revocations.rows == []


