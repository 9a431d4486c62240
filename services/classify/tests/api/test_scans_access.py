"""``/scans/{id}``: who may change, re-classify and delete a scan, and the 404 outside one's scope."""

from __future__ import annotations

from typing import Any

import pytest

SCANS = "/api/v1/scans"
PROBLEM_JSON = "application/problem+json"

# Every id route, with a body where it needs one.
ID_ROUTES = [
    ("GET", "", None), ("GET", "/image", None), ("PATCH", "", {"notes": "x"}),
    ("DELETE", "", None), ("POST", "/classification", None),
]
EDIT_ROUTES = [route for route in ID_ROUTES if route[0] != "GET"]


async def _call(api: Any, method: str, path: str, body: dict[str, Any] | None,
                headers: dict[str, str]) -> Any:
    return await api.http.request(method, path, json=body, headers=headers)


class TestScope:
    @pytest.mark.parametrize(("method", "suffix", "body"), ID_ROUTES)
    async def test_another_hospital_s_scan_is_404_on_every_route(
            self, api: Any, method: str, suffix: str, body: dict[str, Any] | None) -> None:
        scan = await api.create()
        response = await _call(api, method, f"{SCANS}/{scan['id']}{suffix}", body,
                               api.other_moderator)
        still_there = await api.http.get(f"{SCANS}/{scan['id']}", headers=api.technician)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"].endswith("/scan-not-found")
        assert still_there.json() == scan

    @pytest.mark.parametrize(("method", "suffix", "body"), ID_ROUTES)
    async def test_out_of_scope_reads_like_a_missing_id(
            self, api: Any, method: str, suffix: str, body: dict[str, Any] | None) -> None:
        scan = await api.create()
        hidden = await _call(api, method, f"{SCANS}/{scan['id']}{suffix}", body,
                             api.other_moderator)
        missing = await _call(api, method, f"{SCANS}/{scan['id'] + 1000}{suffix}", body,
                              api.other_moderator)
        assert (hidden.status_code, missing.status_code) == (404, 404)
        assert hidden.json()["detail"].replace(str(scan["id"]), "N") == (
            missing.json()["detail"].replace(str(scan["id"] + 1000), "N"))

    @pytest.mark.parametrize(("method", "suffix", "body"), EDIT_ROUTES)
    async def test_admin_may_do_everything_everywhere(
            self, api: Any, method: str, suffix: str, body: dict[str, Any] | None) -> None:
        scan = await api.create(headers=api.other_moderator)
        response = await _call(api, method, f"{SCANS}/{scan['id']}{suffix}", body, api.admin)
        assert response.status_code in (200, 204), response.text


class TestTechnicians:
    @pytest.mark.parametrize(("method", "suffix", "body"), EDIT_ROUTES)
    async def test_may_not_change_a_scan_of_their_hospital(
            self, api: Any, method: str, suffix: str, body: dict[str, Any] | None) -> None:
        scan = await api.create()
        response = await _call(api, method, f"{SCANS}/{scan['id']}{suffix}", body,
                               api.technician)
        unchanged = await api.http.get(f"{SCANS}/{scan['id']}", headers=api.technician)
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "moderator" in response.json()["detail"]
        assert unchanged.json() == scan

    async def test_are_refused_before_the_id_is_looked_up(self, api: Any) -> None:
        # The role is refused before the id is looked up, so a 403 tells nothing about ids.
        response = await api.http.delete(f"{SCANS}/999999", headers=api.technician)
        assert response.status_code == 403


class TestUpdate:
    async def test_moderator_changes_the_recorded_fields(self, api: Any) -> None:
        scan = await api.create()
        response = await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.moderator, json={
            "patient_gender": "male", "true_label": "tumor", "notes": " confirmed by biopsy "})
        assert response.status_code == 200, response.text
        changed = response.json()
        assert (changed["patient_gender"], changed["true_label"], changed["notes"]) == (
            "male", "tumor", "confirmed by biopsy")
        assert changed["created_at"] == scan["created_at"]
        assert changed["updated_at"] > scan["updated_at"]
        assert changed["classification"] == scan["classification"]
        assert (await api.http.get(f"{SCANS}/{scan['id']}", headers=api.technician)).json() == (
            changed)

    async def test_fields_left_out_keep_their_values(self, api: Any) -> None:
        scan = await api.create(true_label="healthy", notes="kept")
        changed = (await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.moderator,
                                        json={"patient_gender": "other"})).json()
        assert (changed["patient_gender"], changed["true_label"], changed["notes"]) == (
            "other", "healthy", "kept")

    async def test_null_clears_true_label_and_notes(self, api: Any) -> None:
        scan = await api.create(true_label="healthy", notes="wrong")
        changed = (await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.moderator,
                                        json={"true_label": None, "notes": None})).json()
        assert (changed["true_label"], changed["notes"]) == (None, None)

    async def test_an_empty_patch_changes_nothing(self, api: Any) -> None:
        scan = await api.create()
        response = await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.moderator, json={})
        assert response.status_code == 200
        assert response.json() == scan

    async def test_admin_moves_a_scan_to_another_hospital(self, api: Any) -> None:
        scan = await api.create()
        moved = await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.admin,
                                     json={"hospital": "St Mary"})
        old_hospital = await api.http.get(f"{SCANS}/{scan['id']}", headers=api.moderator)
        new_hospital = await api.http.get(f"{SCANS}/{scan['id']}", headers=api.other_moderator)
        assert moved.json()["hospital"] == "st-mary"
        assert (old_hospital.status_code, new_hospital.status_code) == (404, 200)

    async def test_moderator_may_not_move_a_scan(self, api: Any) -> None:
        scan = await api.create()
        response = await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.moderator,
                                        json={"hospital": "St Mary", "notes": "moved"})
        unchanged = await api.http.get(f"{SCANS}/{scan['id']}", headers=api.moderator)
        assert response.status_code == 403
        assert response.json()["type"].endswith("/hospital-not-allowed")
        assert unchanged.json() == scan

    @pytest.mark.parametrize(("body", "location"), [
        ({"colour": "red"}, "body.colour"),
        ({"patient_gender": "robot"}, "body.patient_gender"),
        ({"true_label": "maybe"}, "body.true_label"),
        ({"patient_gender": None}, "body"),
        ({"hospital": None}, "body"),
        ({"notes": 5}, "body.notes"),
        ({"hospital": "x" * 121}, "body.hospital"),
    ])
    async def test_invalid_body_is_a_422_naming_the_field(self, api: Any, body: dict[str, Any],
                                                          location: str) -> None:
        scan = await api.create()
        response = await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.moderator,
                                        json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert [error["location"] for error in response.json()["errors"]] == [location]

    async def test_notes_over_the_limit_are_a_422(self, start_app: Any, auth: Any,
                                                  slices: Any) -> None:
        moderator = auth(sub="8", role="moderator")
        async with start_app(scan_notes_max_chars=10) as http:
            scan = (await http.post(SCANS, headers=moderator, data={"patient_gender": "male"},
                                    files={"image": ("s.png", slices.file())})).json()
            response = await http.patch(f"{SCANS}/{scan['id']}", headers=moderator,
                                        json={"notes": "x" * 11})
        assert response.status_code == 422
        assert response.json()["type"].endswith("/invalid-scan-data")
        assert (response.json()["field"], response.json()["detail"]) == (
            "notes", "the notes have 11 characters; the limit is 10")

    @pytest.mark.parametrize(("field", "value", "problem"), [
        ("notes", "a\x00b", "invalid-scan-data"), ("patient_ref", "a\x00b", "invalid-scan-data"),
        ("hospital", "a\x00b", "unknown-hospital"), ("hospital", "\x00", "invalid-hospital-name")])
    async def test_nul_in_text_is_a_422_not_a_database_error(self, api: Any, field: str,
                                                             value: str, problem: str) -> None:
        scan = await api.create()
        response = await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.admin,
                                        json={field: value})
        assert response.status_code == 422
        assert response.json()["type"].endswith(f"/{problem}")

    async def test_malformed_json_is_a_400(self, api: Any) -> None:
        scan = await api.create()
        response = await api.http.patch(
            f"{SCANS}/{scan['id']}", content=b"{nope",
            headers={**api.moderator, "content-type": "application/json"})
        assert response.status_code == 400
        assert response.json()["type"].endswith("/malformed-json")


class TestDelete:
    async def test_moderator_deletes_a_scan_and_its_image(self, api: Any) -> None:
        scan = await api.create()
        response = await api.http.delete(f"{SCANS}/{scan['id']}", headers=api.moderator)
        gone = await api.http.get(f"{SCANS}/{scan['id']}", headers=api.moderator)
        image = await api.http.get(f"{SCANS}/{scan['id']}/image", headers=api.moderator)
        again = await api.http.delete(f"{SCANS}/{scan['id']}", headers=api.moderator)
        assert (response.status_code, response.content) == (204, b"")
        assert (gone.status_code, image.status_code, again.status_code) == (404, 404, 404)

    async def test_a_deleted_id_is_never_reused(self, api: Any) -> None:
        first = await api.create()
        newest = await api.create()
        await api.http.delete(f"{SCANS}/{newest['id']}", headers=api.moderator)
        after = await api.create()
        assert after["id"] == newest["id"] + 1 == first["id"] + 2


class TestReclassify:
    async def test_the_active_model_replaces_the_result(self, api: Any,
                                                        add_model_version: Any) -> None:
        scan = await api.create()
        assert add_model_version() == 2
        response = await api.http.post(f"{SCANS}/{scan['id']}/classification",
                                       headers=api.moderator)
        assert response.status_code == 200, response.text
        again = response.json()
        before, after = scan["classification"], again["classification"]
        assert after["model"] == {"name": "mri-tumor", "version": 2}
        # The same weights under a new version number: the same answer, a new record of it.
        assert ({k: v for k, v in after.items() if k not in ("model", "classified_at")} ==
                {k: v for k, v in before.items() if k not in ("model", "classified_at")})
        assert after["classified_at"] == again["updated_at"] > scan["updated_at"]
        assert again["created_at"] == scan["created_at"]
        assert (await api.http.get(f"{SCANS}/{scan['id']}", headers=api.technician)).json() == (
            again)

    async def test_with_the_same_model_the_result_is_the_same(self, api: Any) -> None:
        scan = await api.create()
        again = (await api.http.post(f"{SCANS}/{scan['id']}/classification",
                                     headers=api.admin)).json()
        assert {k: v for k, v in again["classification"].items() if k != "classified_at"} == {
            k: v for k, v in scan["classification"].items() if k != "classified_at"}

    async def test_a_dicom_scan_is_reclassified_from_its_stored_bytes(self, api: Any,
                                                                      slices: Any) -> None:
        scan = await api.create(slices.file(seed=9, format="dicom"))
        response = await api.http.post(f"{SCANS}/{scan['id']}/classification",
                                       headers=api.moderator)
        assert response.status_code == 200
        assert response.json()["classification"]["crop_box"] == (
            scan["classification"]["crop_box"])
