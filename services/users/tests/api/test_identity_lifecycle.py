"""A token never outlives the identity or the rights it was issued for (issue 9, findings 1-3).

Each scenario runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest

USERS = "/api/v1/users"
ME = "/api/v1/auth/me"
REVOCATIONS = "/.well-known/revocations"
PASSWORD = "password-1234"


def _user(world: Any, name: str) -> str:
    return f"{USERS}/{world.ids[name]}"


def _problem_type(response: Any) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


class TestIdsAreNeverReused:
    async def test_the_newest_user_deleted_then_another_created_gets_a_larger_id(
            self, world: Any) -> None:
        newest = await world.api.create(world.headers["admin"], "newest@general.org")
        assert (await world.api.http.delete(f"{USERS}/{newest['id']}",
                                            headers=world.headers["admin"])).status_code == 204
        created = await world.api.create(world.headers["admin"], "after@general.org")
        assert created["id"] > newest["id"]

    async def test_a_deleted_users_token_never_reads_the_next_user(self, world: Any) -> None:
        # The reproduction of issue 9, finding 1: X deleted, Y created, X's token must not
        # read /auth/me as Y nor change Y's password.
        http = world.api.http
        x = await world.api.create(world.headers["admin"], "x@general.org")
        x_headers = await world.api.headers("x@general.org")
        assert (await http.delete(f"{USERS}/{x['id']}",
                                  headers=world.headers["admin"])).status_code == 204
        y = await world.api.create(world.headers["admin"], "y@general.org")

        me = await http.get(ME, headers=x_headers)
        takeover = await http.patch(f"{USERS}/{y['id']}", headers=x_headers,
                                    json={"password": "taken-over-now"})

        assert me.status_code == 401
        assert takeover.status_code == 401
        await world.api.login("y@general.org")


class TestAccessTokensAreRevoked:
    """The old access token is refused by users itself as soon as the change is committed."""

    @pytest.mark.parametrize(("target", "actor", "body", "problem"), [
        ("tech_a", "mod_a", {"is_active": False}, "account-unavailable"),
        ("mod_a", "admin", {"role": "technician"}, "token-revoked"),
        ("tech_a", "admin", {"hospital": "Saint-Luc"}, "token-revoked"),
        ("tech_a", "mod_a", {"password": "set-by-a-manager"}, "token-revoked"),
    ])
    async def test_a_change_of_rights_revokes_the_old_token(
            self, world: Any, target: str, actor: str, body: dict[str, Any],
            problem: str) -> None:
        http = world.api.http
        changed = await http.patch(_user(world, target), headers=world.headers[actor], json=body)
        assert changed.status_code == 200, changed.text

        me = await http.get(ME, headers=world.headers[target])

        assert me.status_code == 401
        assert _problem_type(me) == problem

    async def test_a_change_of_name_keeps_the_token(self, world: Any) -> None:
        http = world.api.http
        await http.patch(_user(world, "tech_a"), headers=world.headers["mod_a"],
                         json={"full_name": "Still Valid"})
        assert (await http.get(ME, headers=world.headers["tech_a"])).status_code == 200

    async def test_a_password_change_revokes_the_old_token_and_a_new_login_works(
            self, world: Any) -> None:
        http = world.api.http
        changed = await http.put(f"{USERS}/me/password", headers=world.headers["tech_a"], json={
            "current_password": PASSWORD, "new_password": "brand-new-secret"})
        assert changed.status_code == 204
        assert (await http.get(ME, headers=world.headers["tech_a"])).status_code == 401
        fresh = await world.api.headers("tech.a@general.org", "brand-new-secret")
        assert (await http.get(ME, headers=fresh)).status_code == 200

    async def test_logout_voids_access_tokens_while_other_sessions_refresh(
            self, world: Any) -> None:
        http = world.api.http
        laptop = await world.api.login("tech.a@general.org")
        phone = await world.api.login("tech.a@general.org")
        laptop_headers = {"Authorization": f"Bearer {laptop['access_token']}"}
        phone_headers = {"Authorization": f"Bearer {phone['access_token']}"}

        out = await http.post("/api/v1/auth/logout",
                              json={"refresh_token": laptop["refresh_token"]})
        assert out.status_code == 204

        assert (await http.get(ME, headers=laptop_headers)).status_code == 401
        assert (await http.get(ME, headers=phone_headers)).status_code == 401
        refreshed = await http.post("/api/v1/auth/refresh",
                                    json={"refresh_token": phone["refresh_token"]})
        assert refreshed.status_code == 200
        renewed = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert (await http.get(ME, headers=renewed)).status_code == 200


class TestRevocationList:
    async def test_revocations_are_listed_for_the_other_services(self, world: Any) -> None:
        http = world.api.http
        await http.patch(_user(world, "tech_a"), headers=world.headers["mod_a"],
                         json={"is_active": False})
        await http.delete(_user(world, "tech_b"), headers=world.headers["mod_b"])

        listed = await http.get(REVOCATIONS)

        assert listed.status_code == 200
        body = listed.json()
        versions = {entry["user"]: entry["version"] for entry in body["revocations"]}
        assert versions[world.ids["tech_a"]] == 1
        # A deleted user's tokens are void whatever version they carry.
        assert versions[world.ids["tech_b"]] >= 2**31 - 1
        assert all(entry["until"] > 0 for entry in body["revocations"])

    async def test_the_list_is_empty_without_revocations(self, api: Any) -> None:
        listed = await api.http.get(REVOCATIONS)
        assert listed.status_code == 200
        assert listed.json()["revocations"] == []


class TestOwnPasswordNeedsTheCurrentOne:
    @pytest.mark.parametrize("who", ["tech_a", "mod_a", "admin"])
    async def test_patching_ones_own_password_is_refused(self, world: Any, who: str) -> None:
        response = await world.api.http.patch(_user(world, who), headers=world.headers[who],
                                              json={"password": "stolen-token-lock"})
        assert response.status_code == 403
        assert "PUT /api/v1/users/me/password" in response.json()["detail"]

    async def test_a_manager_still_sets_someone_elses_password(self, world: Any) -> None:
        response = await world.api.http.patch(_user(world, "tech_a"),
                                              headers=world.headers["mod_a"],
                                              json={"password": "set-by-a-manager"})
        assert response.status_code == 200
        await world.api.login("tech.a@general.org", "set-by-a-manager")
