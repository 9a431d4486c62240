from __future__ import annotations

from typing import Any

import pytest

USERS = "/api/v1/users"
PASSWORD = "password-1234"


def _user(world: Any, name: str) -> str:
    return f"{USERS}/{world.ids[name]}"


class TestCreate:
    async def test_admin_creates_a_moderator_in_any_hospital(self, world: Any) -> None:
        await world.api.create_hospital(world.headers["admin"], "Elsewhere")
        user = await world.api.create(world.headers["admin"], "  New.Mod@Elsewhere.ORG ",
                                      "moderator", "elsewhere")
        assert (user["email"], user["role"], user["hospital"]) == (
            "new.mod@elsewhere.org", "moderator", "elsewhere")
        assert set(user) == {"id", "email", "full_name", "hospital", "role", "is_active",
                             "created_at", "updated_at"}

    async def test_moderator_technician_defaults_to_their_hospital(self, world: Any) -> None:
        user = await world.api.create(world.headers["mod_b"], "new.tech@saint-luc.org")
        assert (user["role"], user["hospital"]) == ("technician", "saint-luc")

    @pytest.mark.parametrize("body", [{"role": "moderator"}, {"hospital": "General"}])
    async def test_moderator_other_role_or_hospital_is_403(self, world: Any,
                                                          body: dict[str, str]) -> None:
        response = await world.api.http.post(USERS, headers=world.headers["mod_b"], json={
            "email": "x@saint-luc.org", "password": PASSWORD, "full_name": "X", **body})
        assert response.status_code == 403

    async def test_technician_cannot_create(self, world: Any) -> None:
        response = await world.api.http.post(USERS, headers=world.headers["tech_a"], json={
            "email": "x@general.org", "password": PASSWORD, "full_name": "X"})
        assert response.status_code == 403

    async def test_duplicate_email_in_other_case_is_409(self, world: Any) -> None:
        response = await world.api.http.post(USERS, headers=world.headers["admin"], json={
            "email": "TECH.A@General.org", "password": PASSWORD, "full_name": "Twin"})
        assert response.status_code == 409
        assert response.json()["type"].endswith("/email-taken")

    async def test_73_byte_password_is_422_naming_the_limit(self, world: Any) -> None:
        response = await world.api.http.post(USERS, headers=world.headers["admin"], json={
            "email": "long@general.org", "password": "é" * 36 + "a", "full_name": "Long"})
        assert response.status_code == 422
        body = response.json()
        assert body["max_bytes"] == 72 and body["actual_bytes"] == 73
        assert "72 bytes" in body["detail"]

    async def test_72_byte_multibyte_password_works_for_login(self, world: Any) -> None:
        await world.api.create(world.headers["admin"], "long@general.org", password="é" * 36)
        await world.api.login("long@general.org", "é" * 36)

    async def test_short_password_is_422(self, world: Any) -> None:
        response = await world.api.http.post(USERS, headers=world.headers["admin"], json={
            "email": "short@general.org", "password": "short", "full_name": "Short"})
        assert response.status_code == 422

    @pytest.mark.parametrize("body", [
        {"email": "a@b.org", "password": PASSWORD, "full_name": "A", "is_admin": True},
        {"email": "a@b.org", "password": PASSWORD, "full_name": "A", "role": "root"},
        {"email": "a@b.org", "password": PASSWORD, "full_name": "A", "is_active": "maybe"},
        {"email": "a@b.org", "password": PASSWORD},
        {"email": "not-an-email", "password": PASSWORD, "full_name": "A"},
        {"email": "a@b.org", "password": PASSWORD, "full_name": "A", "hospital": "  "},
    ])
    async def test_bad_input_is_422_problem(self, world: Any, body: dict[str, Any]) -> None:
        response = await world.api.http.post(USERS, headers=world.headers["admin"], json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_without_token_is_401(self, api: Any) -> None:
        response = await api.http.post(USERS, json={})
        assert response.status_code == 401


class TestList:
    async def test_admin_sees_everyone_in_id_order(self, world: Any) -> None:
        body = (await world.api.http.get(USERS, headers=world.headers["admin"])).json()
        assert (body["total"], body["limit"], body["offset"]) == (7, 50, 0)
        assert [u["id"] for u in body["items"]] == sorted(world.ids.values())

    async def test_pagination_and_filters(self, world: Any) -> None:
        http, admin = world.api.http, world.headers["admin"]
        page = (await http.get(USERS, params={"limit": 2, "offset": 1}, headers=admin)).json()
        assert [u["id"] for u in page["items"]] == sorted(world.ids.values())[1:3]
        assert page["total"] == 7
        techs = (await http.get(USERS, params={"role": "technician", "hospital": "General"},
                                headers=admin)).json()
        assert {u["email"] for u in techs["items"]} == {"tech.a@general.org",
                                                         "tech.a2@general.org"}

    async def test_moderator_sees_only_their_hospital(self, world: Any) -> None:
        body = (await world.api.http.get(USERS, headers=world.headers["mod_b"])).json()
        assert {u["email"] for u in body["items"]} == {"mod.b@saint-luc.org",
                                                        "tech.b@saint-luc.org"}
        other = (await world.api.http.get(USERS, params={"hospital": "General"},
                                          headers=world.headers["mod_b"])).json()
        assert (other["items"], other["total"]) == ([], 0)

    async def test_technician_gets_403(self, world: Any) -> None:
        response = await world.api.http.get(USERS, headers=world.headers["tech_a"])
        assert response.status_code == 403

    # Issue 9, finding 11: an offset past 2**63 was a 500 (OverflowError) at the driver.
    @pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1},
                                        {"offset": 10**9 + 1}, {"offset": 2**64},
                                        {"role": "root"}])
    async def test_out_of_range_query_is_422(self, world: Any, params: dict[str, Any]) -> None:
        response = await world.api.http.get(USERS, params=params, headers=world.headers["admin"])
        assert response.status_code == 422


class TestGet:
    @pytest.mark.parametrize(("actor", "target", "status"), [
        ("admin", "tech_b", 200), ("mod_a", "tech_a", 200), ("mod_a", "mod_a2", 200),
        ("mod_a", "tech_b", 404), ("mod_b", "mod_a", 404), ("tech_a", "tech_a", 200),
        ("tech_a", "tech_a2", 404), ("tech_a", "mod_a", 404),
    ])
    async def test_visibility(self, world: Any, actor: str, target: str, status: int) -> None:
        response = await world.api.http.get(_user(world, target), headers=world.headers[actor])
        assert response.status_code == status

    async def test_missing_id_is_404_like_an_invisible_one(self, world: Any) -> None:
        response = await world.api.http.get(f"{USERS}/999999", headers=world.headers["admin"])
        assert response.status_code == 404
        assert response.json()["type"].endswith("/user-not-found")

    # Issue 9 (schemathesis): an id past 2**31 - 1 reached PostgreSQL and failed to bind (500).
    @pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
    @pytest.mark.parametrize("user_id", [0, 2**31, 10**12, 2**64])
    async def test_id_outside_the_column_range_is_422(self, world: Any, method: str,
                                                      user_id: int) -> None:
        response = await world.api.http.request(
            method, f"{USERS}/{user_id}", headers=world.headers["admin"],
            json={"full_name": "X"} if method == "PATCH" else None)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"


class TestUpdate:
    async def test_moderator_updates_their_technician(self, world: Any) -> None:
        response = await world.api.http.patch(
            _user(world, "tech_a"), headers=world.headers["mod_a"],
            json={"full_name": " Renamed ", "email": "Renamed@General.org"})
        assert response.status_code == 200
        assert (response.json()["full_name"], response.json()["email"]) == (
            "Renamed", "renamed@general.org")
        assert response.json()["updated_at"] > response.json()["created_at"]

    @pytest.mark.parametrize(("actor", "target", "body", "status"), [
        ("mod_a", "tech_b", {"full_name": "X"}, 404),
        ("mod_a", "mod_a2", {"full_name": "X"}, 403),
        ("mod_a", "tech_a", {"role": "moderator"}, 403),
        ("mod_a", "tech_a", {"hospital": "Saint-Luc"}, 403),
        ("mod_a", "mod_a", {"role": "admin"}, 403),
        ("tech_a", "tech_a", {"role": "moderator"}, 403),
        ("tech_a", "tech_a", {"hospital": "Saint-Luc"}, 403),
        ("tech_a", "tech_a", {"is_active": False}, 403),
        ("tech_a", "tech_a2", {"full_name": "X"}, 404),
        ("admin", "admin", {"role": "technician"}, 403),
        ("admin", "admin", {"is_active": False}, 403),
        ("admin", "tech_a", {"unknown": 1}, 422),
        ("admin", "tech_a", {"email": "tech.b@saint-luc.org"}, 409),
        ("admin", "tech_a", {"password": "é" * 40}, 422),
    ])
    async def test_refused_changes(self, world: Any, actor: str, target: str,
                                   body: dict[str, Any], status: int) -> None:
        response = await world.api.http.patch(_user(world, target), json=body,
                                              headers=world.headers[actor])
        assert response.status_code == status, response.text

    async def test_technician_changes_own_name(self, world: Any) -> None:
        # Their own password only through PUT /users/me/password (test_identity_lifecycle).
        response = await world.api.http.patch(
            _user(world, "tech_a"), headers=world.headers["tech_a"],
            json={"full_name": "Tech A"})
        assert response.status_code == 200
        assert response.json()["full_name"] == "Tech A"

    async def test_admin_promotes_and_moves_a_user(self, world: Any) -> None:
        response = await world.api.http.patch(
            _user(world, "tech_b"), headers=world.headers["admin"],
            json={"role": "moderator", "hospital": "General"})
        assert (response.json()["role"], response.json()["hospital"]) == ("moderator", "general")
        # The old token carries the old claims and is revoked; a new login acts as moderator.
        stale = await world.api.http.get(USERS, headers=world.headers["tech_b"])
        assert stale.status_code == 401
        listed = await world.api.http.get(
            USERS, headers=await world.api.headers("tech.b@saint-luc.org"))
        assert listed.status_code == 200
        assert {u["hospital"] for u in listed.json()["items"]} == {"general"}

    async def test_deactivation_revokes_refresh_tokens(self, world: Any) -> None:
        tokens = await world.api.login("tech.b@saint-luc.org")
        await world.api.http.patch(_user(world, "tech_b"), headers=world.headers["mod_b"],
                                   json={"is_active": False})
        refused = await world.api.http.post("/api/v1/auth/refresh",
                                            json={"refresh_token": tokens["refresh_token"]})
        assert refused.status_code == 401
        login = await world.api.http.post("/api/v1/auth/login", json={
            "email": "tech.b@saint-luc.org", "password": PASSWORD})
        assert login.status_code == 401


class TestDelete:
    async def test_moderator_deletes_their_technician(self, world: Any) -> None:
        http = world.api.http
        tokens = await world.api.login("tech.a@general.org")
        assert (await http.delete(_user(world, "tech_a"),
                                  headers=world.headers["mod_a"])).status_code == 204
        assert (await http.get(_user(world, "tech_a"),
                               headers=world.headers["admin"])).status_code == 404
        refused = await http.post("/api/v1/auth/refresh",
                                  json={"refresh_token": tokens["refresh_token"]})
        assert refused.status_code == 401

    @pytest.mark.parametrize(("actor", "target", "status"), [
        ("admin", "admin", 409), ("mod_a", "mod_a2", 403), ("mod_a", "tech_b", 404),
        ("mod_a", "mod_a", 403), ("tech_a", "tech_a", 403), ("tech_a", "tech_a2", 404),
    ])
    async def test_refused_deletions(self, world: Any, actor: str, target: str,
                                     status: int) -> None:
        response = await world.api.http.delete(_user(world, target), headers=world.headers[actor])
        assert response.status_code == status

    async def test_admin_deletes_a_moderator(self, world: Any) -> None:
        response = await world.api.http.delete(_user(world, "mod_b"),
                                               headers=world.headers["admin"])
        assert response.status_code == 204


class TestChangePassword:
    URL = f"{USERS}/me/password"

    async def test_change_revokes_sessions_and_the_new_password_works(self, world: Any) -> None:
        http = world.api.http
        tokens = await world.api.login("mod.a@general.org")
        response = await http.put(self.URL, headers=world.headers["mod_a"], json={
            "current_password": PASSWORD, "new_password": "brand-new-secret"})
        assert response.status_code == 204
        refused = await http.post("/api/v1/auth/refresh",
                                  json={"refresh_token": tokens["refresh_token"]})
        assert refused.status_code == 401
        await world.api.login("mod.a@general.org", "brand-new-secret")

    async def test_wrong_current_password_is_403(self, world: Any) -> None:
        response = await world.api.http.put(self.URL, headers=world.headers["tech_a"], json={
            "current_password": "not-it-at-all", "new_password": "brand-new-secret"})
        assert response.status_code == 403
        assert response.json()["type"].endswith("/current-password-incorrect")

    async def test_too_long_new_password_is_422(self, world: Any) -> None:
        response = await world.api.http.put(self.URL, headers=world.headers["tech_a"], json={
            "current_password": PASSWORD, "new_password": "x" * 73})
        assert response.status_code == 422
