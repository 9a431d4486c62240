"""``/hospitals``: a managed list, so one typo can no longer start a new tenant (issue 10)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

HOSPITALS = "/api/v1/hospitals"
USERS = "/api/v1/users"
PASSWORD = "password-1234"


class TestList:
    async def test_any_signed_in_user_lists_them_by_name(self, world: Any) -> None:
        response = await world.api.http.get(HOSPITALS, headers=world.headers["tech_b"])
        assert response.status_code == 200
        body = response.json()
        assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
        assert [(h["id"], h["name"]) for h in body["items"]] == [
            ("general", "General"), ("saint-luc", "Saint-Luc")]
        assert body["items"][0]["created_at"].endswith("Z")

    async def test_without_token_is_401(self, api: Any) -> None:
        assert (await api.http.get(HOSPITALS)).status_code == 401

    @pytest.mark.parametrize(("q", "ids"), [
        ("saint", ["saint-luc"]), ("SAINT luc", ["saint-luc"]), ("  ", ["general", "saint-luc"]),
        ("nowhere", []), ("%", None)])
    async def test_q_searches_a_part_of_the_name(self, world: Any, q: str,
                                                 ids: list[str] | None) -> None:
        response = await world.api.http.get(HOSPITALS, params={"q": q},
                                            headers=world.headers["admin"])
        if ids is None:  # no letter or digit to search for: said, not matched as everything
            assert response.status_code == 422
            assert response.json()["type"].endswith("/invalid-hospital-name")
            return
        assert [h["id"] for h in response.json()["items"]] == ids

    async def test_sort_and_paging(self, world: Any) -> None:
        response = await world.api.http.get(HOSPITALS, params={"sort": "-id", "limit": 1,
                                                               "offset": 1},
                                            headers=world.headers["admin"])
        body = response.json()
        assert ([h["id"] for h in body["items"]], body["total"]) == (["general"], 2)

    @pytest.mark.parametrize("params", [{"sort": "size"}, {"foo": "1"}, {"limit": "501"},
                                        {"offset": "-1"}])
    async def test_unknown_sort_or_parameter_or_bounds_is_422(self, world: Any,
                                                              params: dict[str, str]) -> None:
        response = await world.api.http.get(HOSPITALS, params=params,
                                            headers=world.headers["admin"])
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"


class TestGet:
    async def test_by_id_and_by_name_alike(self, world: Any) -> None:
        for key in ("saint-luc", "Saint Luc"):
            response = await world.api.http.get(f"{HOSPITALS}/{key}",
                                                headers=world.headers["tech_a"])
            assert (response.status_code, response.json()["id"]) == (200, "saint-luc")

    @pytest.mark.parametrize("key", ["nowhere", "!!!"])
    async def test_unknown_is_404(self, world: Any, key: str) -> None:
        response = await world.api.http.get(f"{HOSPITALS}/{key}", headers=world.headers["admin"])
        assert response.status_code == 404
        assert response.json()["type"].endswith("/hospital-not-found")

    async def test_the_first_admin_s_hospital_is_created_at_start_up(self, api: Any) -> None:
        admin = await api.headers("admin@specimen.local", "admin-password-for-tests")
        me = (await api.http.get("/api/v1/auth/me", headers=admin)).json()
        hospital = (await api.http.get(f"{HOSPITALS}/{me['hospital']}", headers=admin)).json()
        assert (hospital["id"], hospital["name"]) == ("general", "General")


class TestCreate:
    async def test_admin_creates_one_whose_id_is_the_slug_of_its_name(self, world: Any) -> None:
        response = await world.api.http.post(HOSPITALS, json={"name": "  Newcomer Clinic "},
                                             headers=world.headers["admin"])
        assert response.status_code == 201
        assert (response.json()["id"], response.json()["name"]) == (
            "newcomer-clinic", "Newcomer Clinic")
        assert response.headers["location"] == f"{HOSPITALS}/newcomer-clinic"

    async def test_the_same_name_spelled_otherwise_is_409_naming_the_existing(
            self, world: Any) -> None:
        await world.api.create_hospital(world.headers["admin"], "Newcomer Clinic")
        response = await world.api.http.post(HOSPITALS, json={"name": "newcomer  clinic "},
                                             headers=world.headers["admin"])
        assert response.status_code == 409
        body = response.json()
        assert body["type"].endswith("/hospital-taken")
        assert (body["existing_id"], body["existing_name"]) == ("newcomer-clinic",
                                                                 "Newcomer Clinic")

    async def test_many_admins_creating_one_hospital_at_once_make_one(self, world: Any) -> None:
        """Racing requests on one name: one 201, the rest a 409 naming it, never a 500."""
        spellings = ["Race Clinic", "race clinic", "RACE  CLINIC ", "Race-Clinic"] * 3
        answers = await asyncio.gather(*(
            world.api.http.post(HOSPITALS, json={"name": name}, headers=world.headers["admin"])
            for name in spellings))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses.count(201) == 1, statuses
        assert set(statuses) <= {201, 409, 503}, statuses
        listed = await world.api.http.get(HOSPITALS, params={"q": "race"},
                                          headers=world.headers["admin"])
        assert [h["id"] for h in listed.json()["items"]] == ["race-clinic"]

    @pytest.mark.parametrize("who", ["mod_a", "tech_a"])
    async def test_only_admins_create(self, world: Any, who: str) -> None:
        response = await world.api.http.post(HOSPITALS, json={"name": "Mine"},
                                             headers=world.headers[who])
        assert response.status_code == 403

    @pytest.mark.parametrize("body", [{"name": "!!!"}, {"name": ""}, {"name": "x" * 121},
                                      {"name": "Bell\x07"}, {}, {"name": "A", "id": "a"}])
    async def test_bad_names_are_422(self, world: Any, body: dict[str, Any]) -> None:
        response = await world.api.http.post(HOSPITALS, json=body,
                                             headers=world.headers["admin"])
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"


class TestRename:
    async def test_changes_the_name_and_keeps_the_id(self, world: Any) -> None:
        response = await world.api.http.patch(f"{HOSPITALS}/saint-luc",
                                              json={"name": "Cliniques Saint-Luc"},
                                              headers=world.headers["admin"])
        assert response.status_code == 200
        assert (response.json()["id"], response.json()["name"]) == (
            "saint-luc", "Cliniques Saint-Luc")
        me = (await world.api.http.get("/api/v1/auth/me", headers=world.headers["tech_b"])).json()
        assert me["hospital"] == "saint-luc"

    async def test_to_another_hospital_s_name_is_409(self, world: Any) -> None:
        response = await world.api.http.patch(f"{HOSPITALS}/saint-luc", json={"name": "GENERAL"},
                                              headers=world.headers["admin"])
        assert response.status_code == 409
        assert response.json()["existing_id"] == "general"

    async def test_a_renamed_hospital_s_old_id_stays_taken(self, world: Any) -> None:
        await world.api.http.patch(f"{HOSPITALS}/saint-luc", json={"name": "Luc Clinic"},
                                   headers=world.headers["admin"])
        response = await world.api.http.post(HOSPITALS, json={"name": "Saint Luc"},
                                             headers=world.headers["admin"])
        assert (response.status_code, response.json()["existing_name"]) == (409, "Luc Clinic")

    async def test_moderators_cannot_rename(self, world: Any) -> None:
        response = await world.api.http.patch(f"{HOSPITALS}/general", json={"name": "Mine"},
                                              headers=world.headers["mod_a"])
        assert response.status_code == 403

    async def test_unknown_is_404(self, world: Any) -> None:
        response = await world.api.http.patch(f"{HOSPITALS}/nowhere", json={"name": "X"},
                                              headers=world.headers["admin"])
        assert response.status_code == 404

    async def test_there_is_no_delete(self, world: Any) -> None:
        response = await world.api.http.delete(f"{HOSPITALS}/saint-luc",
                                               headers=world.headers["admin"])
        assert response.status_code == 405


class TestUsersNameAHospitalOfTheList:
    async def test_an_unknown_hospital_is_422_naming_it(self, world: Any) -> None:
        response = await world.api.http.post(USERS, headers=world.headers["admin"], json={
            "email": "x@newcomer.org", "password": PASSWORD, "full_name": "X",
            "hospital": "Newcomer Clinc"})
        assert response.status_code == 422
        body = response.json()
        assert body["type"].endswith("/unknown-hospital")
        assert (body["hospital"], body["hospital_id"]) == ("Newcomer Clinc", "newcomer-clinc")

    async def test_a_hospital_named_by_its_name_is_stored_as_its_id(self, world: Any) -> None:
        user = await world.api.create(world.headers["admin"], "x@saint-luc.org",
                                      hospital=" SAINT luc")
        assert user["hospital"] == "saint-luc"

    async def test_moving_a_user_to_an_unknown_hospital_is_422(self, world: Any) -> None:
        response = await world.api.http.patch(f"{USERS}/{world.ids['tech_a']}",
                                              json={"hospital": "Elsewhere"},
                                              headers=world.headers["admin"])
        assert response.status_code == 422
        assert response.json()["type"].endswith("/unknown-hospital")

    async def test_the_token_names_the_hospital_id(self, world: Any) -> None:
        me = (await world.api.http.get("/api/v1/auth/me", headers=world.headers["mod_b"])).json()
        assert me["hospital"] == "saint-luc"


class TestQueryConventions:
    @pytest.mark.parametrize("url", [f"{USERS}?foo=1", f"{HOSPITALS}?foo=1",
                                     "/api/v1/auth/me?x=1", f"{USERS}/1?x=1"])
    async def test_an_unknown_query_parameter_is_422_naming_it(self, world: Any,
                                                                url: str) -> None:
        response = await world.api.http.get(url, headers=world.headers["admin"])
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["location"].startswith("query")

    async def test_users_sort_by_a_documented_field(self, world: Any) -> None:
        response = await world.api.http.get(USERS, params={"sort": "-email"},
                                            headers=world.headers["admin"])
        emails = [u["email"] for u in response.json()["items"]]
        assert emails == sorted(emails, reverse=True) and len(emails) == 7

    async def test_users_unknown_sort_is_422_naming_the_choices(self, world: Any) -> None:
        response = await world.api.http.get(USERS, params={"sort": "password_hash"},
                                            headers=world.headers["admin"])
        assert response.status_code == 422
        assert "-email" in response.text


class TestOpenApi:
    async def test_the_user_body_states_the_names_and_the_password_rules(self, api: Any) -> None:
        schemas = (await api.http.get("/openapi.json")).json()["components"]["schemas"]
        create = schemas["UserCreate"]
        assert {"email", "password", "full_name", "role", "hospital", "is_active"} == set(
            create["properties"])
        assert create["properties"]["password"]["minLength"] == 8
        assert "72 bytes" in create["properties"]["password"]["description"]
        assert set(schemas["UserPublic"]["properties"]) >= {"full_name", "is_active"}
