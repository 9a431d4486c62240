"""``/scans`` under issue 10: hospital ids of the managed list, patient references, the
classification history, and the list conventions (sort, strict query string)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

SCANS = "/api/v1/scans"


class TestHospitalOfTheList:
    async def test_an_admin_naming_an_unknown_hospital_is_422_and_nothing_is_stored(
            self, api: Any) -> None:
        response = await api.http.post(
            SCANS, headers=api.admin, files={"image": ("s.png", b"never read")},
            data={"patient_gender": "female", "hospital": "Newcomer Clinc"})
        assert response.status_code == 422
        body = response.json()
        assert body["type"].endswith("/unknown-hospital")
        assert (body["hospital"], body["hospital_id"]) == ("Newcomer Clinc", "newcomer-clinc")
        assert (await api.http.get(SCANS, headers=api.admin)).json()["total"] == 0

    async def test_moving_a_scan_to_an_unknown_hospital_is_422(self, api: Any) -> None:
        scan = await api.create()
        response = await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.admin,
                                        json={"hospital": "Nowhere"})
        assert response.status_code == 422
        assert response.json()["type"].endswith("/unknown-hospital")

    @pytest.mark.parametrize(("down", "status"), [(True, None), (False, 500), (False, 401)])
    async def test_no_answer_from_users_is_503_with_retry_after(
            self, api: Any, fake_users: Any, down: bool, status: int | None) -> None:
        fake_users.down, fake_users.status = down, status
        response = await api.http.post(
            SCANS, headers=api.admin, files={"image": ("s.png", b"never read")},
            data={"patient_gender": "female", "hospital": "st-mary"})
        assert response.status_code == 503
        assert response.json()["type"].endswith("/hospitals-unavailable")
        assert int(response.headers["retry-after"]) > 0

    async def test_a_token_naming_the_hospital_by_name_shares_the_id_s_scope(
            self, api: Any) -> None:
        # Tokens issued before the managed list carry the name; the slug makes it the id.
        scan = await api.create(headers=api.auth(role="technician", hospital="General"))
        listed = await api.http.get(SCANS, headers=api.auth(role="technician", hospital="general"))
        assert [s["id"] for s in listed.json()["items"]] == [scan["id"]]
        assert scan["hospital"] == "general"

    async def test_the_hospital_filter_takes_the_id_or_the_name(self, api: Any) -> None:
        await api.create(headers=api.admin, hospital="st-mary")
        for value in ("st-mary", "St Mary"):
            page = (await api.http.get(SCANS, params={"hospital": value},
                                       headers=api.admin)).json()
            assert page["total"] == 1


class TestPatientRef:
    async def test_kept_trimmed_and_filterable_within_the_hospital(self, api: Any) -> None:
        mine = await api.create(patient_ref="  P-0042 ")
        await api.create(patient_ref="P-0043")
        other = await api.create(headers=api.admin, hospital="st-mary", patient_ref="P-0042")
        assert mine["patient_ref"] == "P-0042"
        page = (await api.http.get(SCANS, params={"patient_ref": "P-0042"},
                                   headers=api.technician)).json()
        assert [s["id"] for s in page["items"]] == [mine["id"]]
        everywhere = (await api.http.get(SCANS, params={"patient_ref": "P-0042"},
                                         headers=api.admin)).json()
        assert {s["id"] for s in everywhere["items"]} == {mine["id"], other["id"]}

    async def test_changed_and_cleared_by_patch(self, api: Any) -> None:
        scan = await api.create(patient_ref="P-1")
        changed = await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.moderator,
                                       json={"patient_ref": "P-2"})
        assert changed.json()["patient_ref"] == "P-2"
        cleared = await api.http.patch(f"{SCANS}/{scan['id']}", headers=api.moderator,
                                       json={"patient_ref": None})
        assert cleared.json()["patient_ref"] is None

    async def test_the_limit_is_a_setting_and_named(self, start_app: Any, auth: Any,
                                                    slices: Any) -> None:
        async with start_app(scan_patient_ref_max_chars=4) as http:
            response = await http.post(SCANS, headers=auth(), files={"image": ("s.png",
                                                                               slices.file())},
                                       data={"patient_gender": "male", "patient_ref": "P-123"})
        assert response.status_code == 422
        assert (response.json()["field"], response.json()["detail"]) == (
            "patient_ref", "the patient reference has 5 characters; the limit is 4")

    async def test_in_the_export(self, api: Any) -> None:
        await api.create(patient_ref="=P-9")
        text = (await api.http.get(f"{SCANS}/export.csv", headers=api.technician)).text
        [row] = list(csv.DictReader(io.StringIO(text)))
        assert row["patient_ref"] == "'=P-9"  # a formula is never run by a spreadsheet
        assert row["created_at"].endswith("Z") and row["classified_at"].endswith("Z")


class TestClassificationHistory:
    async def test_reclassifying_appends_and_the_scan_shows_the_latest(
            self, api: Any, add_model_version: Any) -> None:
        scan = await api.create()
        assert add_model_version() == 2
        again = (await api.http.post(f"{SCANS}/{scan['id']}/classification",
                                     headers=api.moderator)).json()
        response = await api.http.get(f"{SCANS}/{scan['id']}/classifications",
                                      headers=api.technician)
        assert response.status_code == 200
        history = response.json()
        assert (history["total"], history["limit"], history["offset"]) == (2, 50, 0)
        assert [c["model"]["version"] for c in history["items"]] == [2, 1]
        assert history["items"][0] == again["classification"]
        assert history["items"][1] == scan["classification"]
        assert history["items"][0]["decision_threshold"] == 0.5
        assert history["items"][0]["classified_at"].endswith("Z")

    async def test_paged(self, api: Any) -> None:
        scan = await api.create()
        await api.http.post(f"{SCANS}/{scan['id']}/classification", headers=api.moderator)
        page = (await api.http.get(f"{SCANS}/{scan['id']}/classifications",
                                   params={"limit": 1, "offset": 1},
                                   headers=api.technician)).json()
        assert (len(page["items"]), page["total"]) == (1, 2)
        assert page["items"][0] == scan["classification"]

    async def test_another_hospital_s_history_is_404(self, api: Any) -> None:
        scan = await api.create()
        response = await api.http.get(f"{SCANS}/{scan['id']}/classifications",
                                      headers=api.other_moderator)
        assert response.status_code == 404

    async def test_deleting_the_scan_deletes_its_history(self, api: Any) -> None:
        scan = await api.create()
        await api.http.delete(f"{SCANS}/{scan['id']}", headers=api.moderator)
        response = await api.http.get(f"{SCANS}/{scan['id']}/classifications",
                                      headers=api.admin)
        assert response.status_code == 404


class TestListConventions:
    async def test_sort_by_a_documented_field_either_way(self, api: Any) -> None:
        ids = [(await api.create(patient_ref=ref))["id"] for ref in ("B", "A", "C")]
        for sort, expected in (("patient_ref", [ids[1], ids[0], ids[2]]),
                               ("-patient_ref", [ids[2], ids[0], ids[1]]),
                               ("id", ids), ("-created_at", ids[::-1])):
            page = (await api.http.get(SCANS, params={"sort": sort},
                                       headers=api.technician)).json()
            assert [s["id"] for s in page["items"]] == expected, sort

    async def test_an_unknown_sort_is_422_naming_the_choices(self, api: Any) -> None:
        response = await api.http.get(SCANS, params={"sort": "label"}, headers=api.technician)
        assert response.status_code == 422
        assert "-tumor_probability" in response.text

    @pytest.mark.parametrize("path", ["", "/{id}", "/{id}/image", "/{id}/classifications",
                                      "/export.csv"])
    async def test_an_unknown_query_parameter_is_422_on_every_read(self, api: Any,
                                                                   path: str) -> None:
        scan = await api.create()
        response = await api.http.get(SCANS + path.format(id=scan["id"]), params={"x": "1"},
                                      headers=api.technician)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_and_on_the_writes(self, api: Any) -> None:
        scan = await api.create()
        patched = await api.http.patch(f"{SCANS}/{scan['id']}", params={"x": "1"},
                                       headers=api.moderator, json={})
        reclassified = await api.http.post(f"{SCANS}/{scan['id']}/classification",
                                           params={"x": "1"}, headers=api.moderator)
        deleted = await api.http.delete(f"{SCANS}/{scan['id']}", params={"x": "1"},
                                        headers=api.moderator)
        assert (patched.status_code, reclassified.status_code, deleted.status_code) == (
            422, 422, 422)
