from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio

from specimen_kit.launch import free_port
from specimen_kit.testing import REDIS_URL, service_unavailable
from specimen_kit.tokens import StaticKeySource, TokenVerifier

ADMIN_EMAIL = "admin@specimen.local"
ADMIN_PASSWORD = "admin-password-for-tests"
PASSWORD = "password-1234"

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


class TestLogin:
    async def test_json_login_returns_a_verifiable_bearer_pair(self, api: Any) -> None:
        response = await api.http.post(LOGIN, json={"email": ADMIN_EMAIL,
                                                    "password": ADMIN_PASSWORD})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
        jwks = (await api.http.get("/.well-known/jwks.json")).json()
        principal = await TokenVerifier(StaticKeySource(jwks), "specimen-users").verify(
            body["access_token"])
        assert (principal.role.value, principal.hospital) == ("admin", "general")

    async def test_oauth2_password_form_login_as_swagger_sends_it(self, api: Any) -> None:
        response = await api.http.post(LOGIN, data={
            "grant_type": "password", "username": ADMIN_EMAIL.upper(),
            "password": ADMIN_PASSWORD, "scope": ""})
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "bearer"

    async def test_email_is_case_insensitive(self, api: Any) -> None:
        await api.login("  Admin@Specimen.LOCAL ", ADMIN_PASSWORD)

    async def test_unknown_email_wrong_password_and_inactive_get_the_same_401(
            self, world: Any) -> None:
        http = world.api.http
        await http.patch(f"/api/v1/users/{world.ids['tech_a']}", json={"is_active": False},
                         headers=world.headers["admin"])
        answers = [
            await http.post(LOGIN, json={"email": "nobody@general.org", "password": PASSWORD}),
            await http.post(LOGIN, json={"email": "mod.a@general.org", "password": "wrong-one"}),
            await http.post(LOGIN, json={"email": "tech.a@general.org", "password": PASSWORD}),
        ]
        assert {a.status_code for a in answers} == {401}
        assert {a.headers["content-type"] for a in answers} == {"application/problem+json"}
        assert len({(a.json()["title"], a.json()["detail"]) for a in answers}) == 1

    async def test_overlong_password_at_login_is_401_not_a_crash(self, api: Any) -> None:
        response = await api.http.post(LOGIN, json={"email": ADMIN_EMAIL, "password": "é" * 60})
        assert response.status_code == 401

    async def test_unknown_field_is_422_problem(self, api: Any) -> None:
        response = await api.http.post(LOGIN, json={"email": ADMIN_EMAIL,
                                                    "password": ADMIN_PASSWORD, "otp": "1"})
        assert response.status_code == 422
        assert response.json()["type"].endswith("/validation-error")

    async def test_malformed_json_is_400_problem(self, api: Any) -> None:
        response = await api.http.post(LOGIN, content=b'{"email": ',
                                       headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"

    async def test_form_without_password_is_422(self, api: Any) -> None:
        response = await api.http.post(LOGIN, data={"username": ADMIN_EMAIL})
        assert response.status_code == 422


STRANGER, OWNER = "203.0.113.66", "198.51.100.7"


async def _redis_or_skip() -> redis.asyncio.Redis:
    probe = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except Exception as error:  # no Redis here: skip, or fail where services are required
        await probe.aclose()
        service_unavailable("Redis", error)
    return probe


async def _forget_login_counters(probe: redis.asyncio.Redis) -> None:
    # Only this service's keys: other tests may share the Redis database.
    keys = await probe.keys("users-login:*")
    if keys:
        await probe.delete(*keys)


class TestLoginThrottle:
    """Issue 9, finding 5: failures slow the address that makes them, not the account."""

    async def test_wrong_passwords_from_a_stranger_do_not_lock_the_owner_out(
            self, start_clients: Any) -> None:
        async with start_clients() as at:
            stranger, owner = at(STRANGER), at(OWNER)
            answers = [await stranger.post(LOGIN, json={"email": ADMIN_EMAIL, "password": "bad"})
                       for _ in range(8)]
            assert [a.status_code for a in answers] == [401] * 4 + [429] * 4
            right = await owner.post(LOGIN, json={"email": ADMIN_EMAIL.upper(),
                                                  "password": ADMIN_PASSWORD})
            assert right.status_code == 200, right.text
            assert set(right.json()) >= {"access_token", "refresh_token"}

    async def test_the_failing_address_waits_growing_delays_before_bcrypt(
            self, start_clients: Any) -> None:
        async with start_clients() as at:
            stranger = at(STRANGER)
            for _ in range(4):
                await stranger.post(LOGIN, json={"email": ADMIN_EMAIL, "password": "bad"})
            refused = await stranger.post(LOGIN, json={"email": ADMIN_EMAIL,
                                                       "password": ADMIN_PASSWORD})
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["type"].endswith("/too-many-requests")
            assert 1 <= int(refused.headers["Retry-After"]) <= 2

    async def test_the_account_ceiling_holds_only_addresses_that_failed(
            self, start_clients: Any) -> None:
        async with start_clients(login_failure_limit_per_account="3/hour") as at:
            bots = [at(f"192.0.2.{n}") for n in range(3)]
            for bot in bots:
                answer = await bot.post(LOGIN, json={"email": ADMIN_EMAIL, "password": "bad"})
                assert answer.status_code == 401
            again = await bots[0].post(LOGIN, json={"email": ADMIN_EMAIL, "password": "bad"})
            assert again.status_code == 429
            assert int(again.headers["Retry-After"]) >= 1
            owner = await at(OWNER).post(LOGIN, json={"email": ADMIN_EMAIL,
                                                      "password": ADMIN_PASSWORD})
            assert owner.status_code == 200

    async def test_address_limit_counts_attempts_on_every_email(
            self, start_app: Any) -> None:
        async with start_app(login_rate_limit_per_address="3/minute") as http:
            for index in range(3):
                answer = await http.post(LOGIN, json={"email": f"u{index}@example.org",
                                                      "password": "bad-password"})
                assert answer.status_code == 401
            refused = await http.post(LOGIN, data={"username": ADMIN_EMAIL,
                                                   "password": ADMIN_PASSWORD})
            assert refused.status_code == 429
            assert "Retry-After" in refused.headers

    async def test_with_redis_on_a_closed_port_login_and_throttling_keep_working(
            self, start_clients: Any) -> None:
        async with start_clients(redis_url=f"redis://127.0.0.1:{free_port()}/0") as at:
            owner, stranger = at(OWNER), at(STRANGER)
            assert (await owner.post(LOGIN, json={"email": ADMIN_EMAIL,
                                                  "password": ADMIN_PASSWORD})).status_code == 200
            answers = [await stranger.post(LOGIN, json={"email": ADMIN_EMAIL, "password": "bad"})
                       for _ in range(5)]
            assert [a.status_code for a in answers] == [401] * 4 + [429]
            assert (await owner.post(LOGIN, json={"email": ADMIN_EMAIL,
                                                  "password": ADMIN_PASSWORD})).status_code == 200

    @pytest.mark.redis
    async def test_redis_shares_the_hold_between_replicas(self, start_clients: Any) -> None:
        probe = await _redis_or_skip()
        try:
            await _forget_login_counters(probe)
            async with (start_clients(redis_url=REDIS_URL) as first,
                        start_clients(redis_url=REDIS_URL) as second):
                for _ in range(4):
                    answer = await first(STRANGER).post(LOGIN, json={"email": ADMIN_EMAIL,
                                                                     "password": "bad"})
                    assert answer.status_code == 401
                refused = await second(STRANGER).post(LOGIN, json={"email": ADMIN_EMAIL,
                                                                   "password": ADMIN_PASSWORD})
                assert refused.status_code == 429
                assert int(refused.headers["Retry-After"]) >= 1
                owner = await second(OWNER).post(LOGIN, json={"email": ADMIN_EMAIL,
                                                              "password": ADMIN_PASSWORD})
                assert owner.status_code == 200
            assert await probe.keys("users-login:pair-hold:*")
        finally:
            await _forget_login_counters(probe)
            await probe.aclose()


class TestRefreshAndLogout:
    async def test_refresh_rotates_and_reuse_revokes_the_family(self, api: Any) -> None:
        first = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        rotated = await api.http.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert rotated.status_code == 200
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]
        reused = await api.http.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert reused.status_code == 401
        # The revocation survived the failed request: the legitimate rotation is dead too.
        after_theft = await api.http.post(REFRESH, json={"refresh_token": second["refresh_token"]})
        assert after_theft.status_code == 401

    async def test_unknown_refresh_token_is_401(self, api: Any) -> None:
        response = await api.http.post(REFRESH, json={"refresh_token": "made-up"})
        assert response.status_code == 401
        assert response.json()["type"].endswith("/invalid-refresh-token")

    async def test_logout_revokes_and_unknown_token_is_still_204(self, api: Any) -> None:
        tokens = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert (await api.http.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]})
                ).status_code == 204
        assert (await api.http.post(LOGOUT, json={"refresh_token": "made-up"})).status_code == 204
        refused = await api.http.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert refused.status_code == 401

    async def test_deactivated_user_cannot_refresh(self, world: Any) -> None:
        tokens = await world.api.login("tech.a@general.org")
        await world.api.http.patch(f"/api/v1/users/{world.ids['tech_a']}",
                                   json={"is_active": False}, headers=world.headers["admin"])
        refused = await world.api.http.post(REFRESH,
                                            json={"refresh_token": tokens["refresh_token"]})
        assert refused.status_code == 401


class TestMe:
    async def test_me_returns_the_callers_public_account(self, world: Any) -> None:
        response = await world.api.http.get(ME, headers=world.headers["tech_b"])
        assert response.status_code == 200
        body = response.json()
        assert body["email"] == "tech.b@saint-luc.org"
        assert (body["role"], body["hospital"], body["is_active"]) == (
            "technician", "saint-luc", True)
        assert "password_hash" not in body
        assert body["created_at"].endswith(("+00:00", "Z"))

    async def test_me_without_token_is_401(self, api: Any) -> None:
        response = await api.http.get(ME)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    async def test_me_after_deletion_is_401(self, world: Any) -> None:
        await world.api.http.delete(f"/api/v1/users/{world.ids['tech_a']}",
                                    headers=world.headers["admin"])
        response = await world.api.http.get(ME, headers=world.headers["tech_a"])
        assert response.status_code == 401

    async def test_me_after_deactivation_is_401(self, world: Any) -> None:
        await world.api.http.patch(f"/api/v1/users/{world.ids['mod_b']}",
                                   json={"is_active": False}, headers=world.headers["admin"])
        response = await world.api.http.get(ME, headers=world.headers["mod_b"])
        assert response.status_code == 401
