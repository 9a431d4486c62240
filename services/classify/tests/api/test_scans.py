"""``/scans``: filing, reading, listing, filtering and exporting MRI scan records."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.adapters.mri_runtime import LiteRtMriModel
from specimen_classify.domain.predictions import MRI_MODEL, ModelVersion, classify_slices
from specimen_classify.domain.scans import CSV_COLUMNS

SCANS = "/api/v1/scans"
SCAN_FIELDS = {"id", "hospital", "patient_ref", "patient_gender", "true_label", "notes",
               "created_by", "created_at", "updated_at", "classification", "image"}


def _expected(data: bytes, model_dir: Path) -> dict[str, Any]:
    """The classification the real runtime gives ``data``, as the API answers it."""
    model = LiteRtMriModel.load(model_dir / MRI_MODEL / "1", ModelVersion(MRI_MODEL, 1))
    prediction = classify_slices([read_mri(data, max_pixels=10**8)], model)[0]
    min_row, min_col, max_row, max_col = prediction.crop_box
    return {"label": prediction.label, "probability": prediction.probability,
            "tumor_probability": prediction.tumor_probability,
            "decision_threshold": model.decision_threshold,
            "model": {"name": MRI_MODEL, "version": 1},
            "crop_box": {"min_row": min_row, "min_col": min_col, "max_row": max_row,
                         "max_col": max_col}}


class TestCreate:
    async def test_a_slice_is_classified_and_recorded(self, api: Any, slices: Any,
                                                      model_dir: Path) -> None:
        data = slices.file(seed=3, has_tumor=True)
        response = await api.http.post(SCANS, headers=api.technician,
                                       files={"image": ("slice.png", data)},
                                       data={"patient_gender": "male"})
        assert response.status_code == 201, response.text
        scan = response.json()
        assert set(scan) == SCAN_FIELDS
        assert response.headers["location"] == f"{SCANS}/{scan['id']}"
        assert (scan["hospital"], scan["patient_gender"], scan["true_label"], scan["notes"],
                scan["created_by"]) == ("general", "male", None, None, 7)
        classified_at = scan["classification"].pop("classified_at")
        assert scan["classification"] == _expected(data, model_dir)
        assert scan["created_at"] == scan["updated_at"] == classified_at
        assert scan["image"] == {"media_type": "image/png", "bytes": len(data)}

    async def test_the_crop_box_is_in_the_sent_pixels(self, api: Any, slices: Any) -> None:
        scan = await api.create(slices.file(seed=1))
        box = scan["classification"]["crop_box"]
        assert 0 <= box["min_row"] < box["max_row"] <= slices.size
        assert 0 <= box["min_col"] < box["max_col"] <= slices.size

    async def test_the_label_follows_the_threshold(self, api: Any, slices: Any) -> None:
        result = (await api.create(slices.file(seed=2)))["classification"]
        expected_label = "tumor" if result["tumor_probability"] >= 0.5 else "healthy"
        probability = (result["tumor_probability"] if expected_label == "tumor"
                       else 1 - result["tumor_probability"])
        assert result["label"] == expected_label
        assert result["probability"] == pytest.approx(probability, abs=1e-12)

    @pytest.mark.parametrize(("format", "media_type"), [
        ("png", "image/png"), ("jpeg", "image/jpeg"), ("tiff", "image/tiff"),
        ("dicom", "application/dicom"),
    ])
    async def test_each_format_is_kept_byte_for_byte(self, api: Any, slices: Any, format: str,
                                                     media_type: str) -> None:
        data = slices.file(seed=4, format=format)
        scan = await api.create(data)
        image = await api.http.get(f"{SCANS}/{scan['id']}/image", headers=api.technician)
        assert scan["image"] == {"media_type": media_type, "bytes": len(data)}
        assert image.status_code == 200
        assert image.headers["content-type"] == media_type
        assert image.content == data

    async def test_dicom_is_classified_like_its_pixels(self, api: Any, slices: Any,
                                                       model_dir: Path) -> None:
        data = slices.file(seed=5, has_tumor=True, format="dicom")
        scan = await api.create(data)
        scan["classification"].pop("classified_at")
        assert scan["classification"] == _expected(data, model_dir)

    async def test_the_image_downloads_under_the_scan_s_name(self, api: Any,
                                                              slices: Any) -> None:
        scan = await api.create(slices.file(format="dicom"))
        image = await api.http.get(f"{SCANS}/{scan['id']}/image", headers=api.technician)
        assert image.headers["content-disposition"] == (
            f"attachment; filename=\"scan-{scan['id']}.dcm\"; "
            f"filename*=UTF-8''scan-{scan['id']}.dcm")

    async def test_a_dicom_is_served_as_png_when_asked(self, api: Any, slices: Any) -> None:
        """A browser cannot show DICOM: output=png gives the slice the classifier read."""
        data = slices.file(seed=6, format="dicom")
        scan = await api.create(data)
        image = await api.http.get(f"{SCANS}/{scan['id']}/image?output=png", headers=api.technician)
        assert image.status_code == 200, image.text
        assert image.headers["content-type"] == "image/png"
        assert f"scan-{scan['id']}.png" in image.headers["content-disposition"]
        decoded = read_mri(image.content, max_pixels=10**8)
        assert (decoded == read_mri(data, max_pixels=10**8)).all()

    async def test_accept_chooses_a_conversion_and_as_sent_stays_the_default(
            self, api: Any, slices: Any) -> None:
        data = slices.file(seed=6, format="tiff")
        scan = await api.create(data)
        url = f"{SCANS}/{scan['id']}/image"
        webp = await api.http.get(url, headers={**api.technician, "accept": "image/webp"})
        assert webp.headers["content-type"] == "image/webp"
        sent = await api.http.get(url, headers={**api.technician, "accept": "image/*"})
        assert sent.content == data

    @pytest.mark.parametrize(("query", "accept", "status"), [
        ("output=gif", None, 422), ("output=png&quality=80", None, 422),
        ("output=png&format=jpeg", None, 422), ("", "text/html", 406),
    ])
    async def test_a_format_it_cannot_give_is_refused_not_replaced(
            self, api: Any, slices: Any, query: str, accept: str | None, status: int) -> None:
        scan = await api.create(slices.file(seed=6))
        headers = {**api.technician, **({"accept": accept} if accept else {})}
        response = await api.http.get(f"{SCANS}/{scan['id']}/image?{query}", headers=headers)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"

    async def test_the_client_s_media_type_claim_is_ignored(self, api: Any, slices: Any) -> None:
        response = await api.http.post(
            SCANS, headers=api.technician, data={"patient_gender": "other"},
            files={"image": ("slice.gif", slices.file(format="jpeg"), "image/gif")})
        assert response.json()["image"]["media_type"] == "image/jpeg"

    async def test_true_label_and_notes_are_kept(self, api: Any) -> None:
        scan = await api.create(true_label="tumor", notes="  left frontal, follow-up\nin 3 months ")
        assert (scan["true_label"], scan["notes"]) == ("tumor", "left frontal, follow-up\nin 3 months")

    async def test_empty_optional_form_fields_count_as_absent(self, api: Any) -> None:
        scan = await api.create(true_label="", notes="", hospital="")
        assert (scan["true_label"], scan["notes"], scan["hospital"]) == (None, None, "general")

    async def test_blank_notes_are_stored_as_none(self, api: Any) -> None:
        scan = await api.create(notes="   \n ")
        assert scan["notes"] is None

    async def test_naming_one_s_own_hospital_is_allowed(self, api: Any) -> None:
        scan = await api.create(hospital=" General ")
        assert scan["hospital"] == "general"

    async def test_admin_files_for_any_hospital_of_the_list(self, api: Any,
                                                           fake_users: Any) -> None:
        admin = api.admin
        scan = await api.create(headers=admin, hospital="St Mary")
        assert (scan["hospital"], scan["created_by"]) == ("st-mary", 1)
        # Asked of the users service, as the admin: the caller's own token goes along.
        [asked] = fake_users.requests
        assert asked.url.path == "/api/v1/hospitals/st-mary"
        assert asked.headers["authorization"] == admin["Authorization"]

    async def test_admin_without_hospital_files_for_their_own(self, api: Any,
                                                              fake_users: Any) -> None:
        scan = await api.create(headers=api.admin)
        assert scan["hospital"] == "headquarters"
        assert fake_users.requests == []  # the token's own hospital needs no question

    @pytest.mark.parametrize("role", ["technician", "moderator"])
    async def test_naming_another_hospital_is_refused(self, api: Any, role: str) -> None:
        response = await api.http.post(
            SCANS, headers=api.auth(role=role, hospital="General"),
            files={"image": ("slice.png", b"not read")},
            data={"patient_gender": "female", "hospital": "St Mary"})
        listed = await api.http.get(SCANS, headers=api.admin)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/hospital-not-allowed")
        assert "your own hospital 'general', not 'st-mary'" in response.json()["detail"]
        assert listed.json()["total"] == 0

    async def test_json_with_base64_is_accepted_too(self, api: Any, slices: Any) -> None:
        import base64

        data = slices.file(seed=6)
        response = await api.http.post(SCANS, headers=api.technician, json={
            "image": base64.b64encode(data).decode(), "patient_gender": "unknown",
            "true_label": "healthy"})
        assert response.status_code == 201, response.text
        assert (response.json()["patient_gender"], response.json()["true_label"],
                response.json()["image"]["bytes"]) == ("unknown", "healthy", len(data))

    async def test_without_a_token_is_401(self, api: Any) -> None:
        response = await api.http.post(SCANS, files={"image": ("slice.png", b"x")},
                                       data={"patient_gender": "female"})
        assert response.status_code == 401


class TestRead:
    async def test_a_scan_reads_as_it_was_answered(self, api: Any) -> None:
        scan = await api.create(true_label="healthy", notes="n")
        fetched = await api.http.get(f"{SCANS}/{scan['id']}", headers=api.technician)
        assert fetched.status_code == 200
        assert fetched.json() == scan

    async def test_ids_count_up(self, api: Any) -> None:
        first, second = await api.create(), await api.create()
        assert second["id"] == first["id"] + 1

    async def test_a_colleague_of_the_same_hospital_reads_it(self, api: Any) -> None:
        scan = await api.create()
        colleague = api.auth(sub="77", role="technician", hospital="General")
        response = await api.http.get(f"{SCANS}/{scan['id']}", headers=colleague)
        assert response.status_code == 200

    async def test_admin_reads_every_hospital(self, api: Any) -> None:
        scan = await api.create()
        response = await api.http.get(f"{SCANS}/{scan['id']}/image", headers=api.admin)
        assert response.status_code == 200

    async def test_unknown_id_is_a_404_problem(self, api: Any) -> None:
        response = await api.http.get(f"{SCANS}/424242", headers=api.admin)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/scan-not-found")
        assert response.json()["scan_id"] == 424242

    @pytest.mark.parametrize("scan_id", ["abc", "1.5", "0", "-3", str(2**31), "9" * 40])
    async def test_an_id_that_is_not_a_positive_int32_is_a_422(self, api: Any,
                                                                 scan_id: str) -> None:
        response = await api.http.get(f"{SCANS}/{scan_id}", headers=api.technician)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["location"] == "path.scan_id"


class TestList:
    async def test_newest_first_and_paged(self, api: Any) -> None:
        ids = [(await api.create())["id"] for _ in range(5)]
        first = (await api.http.get(SCANS, params={"limit": 2}, headers=api.technician)).json()
        rest = (await api.http.get(SCANS, params={"limit": 2, "offset": 2},
                                   headers=api.technician)).json()
        assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
        assert [item["id"] for item in first["items"]] == ids[::-1][:2]
        assert [item["id"] for item in rest["items"]] == ids[::-1][2:4]

    # Issue 9, finding 11: one paging bound for every list route (API.md).
    @pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1},
                                        {"offset": 10**9 + 1}, {"offset": 2**64}])
    async def test_out_of_range_paging_is_a_422(self, api: Any, params: dict[str, int]) -> None:
        response = await api.http.get(SCANS, params=params, headers=api.technician)
        assert response.status_code == 422

    async def test_the_largest_paging_values_are_answered(self, api: Any) -> None:
        response = await api.http.get(SCANS, params={"limit": 500, "offset": 10**9},
                                      headers=api.technician)
        assert (response.json()["limit"], response.json()["offset"]) == (500, 10**9)

    async def test_an_empty_list(self, api: Any) -> None:
        page = (await api.http.get(SCANS, headers=api.technician)).json()
        assert page == {"items": [], "total": 0, "limit": 50, "offset": 0}

    async def test_items_are_the_scans(self, api: Any) -> None:
        scan = await api.create(notes="x")
        page = (await api.http.get(SCANS, headers=api.technician)).json()
        assert page["items"] == [scan]

    async def test_each_hospital_sees_its_own_and_admin_all(self, api: Any) -> None:
        general = await api.create()
        other = await api.create(headers=api.other_moderator)
        seen_by_general = (await api.http.get(SCANS, headers=api.technician)).json()
        seen_by_other = (await api.http.get(SCANS, headers=api.other_moderator)).json()
        seen_by_admin = (await api.http.get(SCANS, headers=api.admin)).json()
        assert [item["id"] for item in seen_by_general["items"]] == [general["id"]]
        assert [item["id"] for item in seen_by_other["items"]] == [other["id"]]
        assert [item["id"] for item in seen_by_admin["items"]] == [other["id"], general["id"]]

    async def test_admin_filters_by_hospital(self, api: Any) -> None:
        await api.create()
        other = await api.create(headers=api.other_moderator)
        page = (await api.http.get(SCANS, params={"hospital": "St Mary"},
                                   headers=api.admin)).json()
        assert [item["id"] for item in page["items"]] == [other["id"]]

    async def test_another_hospital_s_filter_shows_nothing_to_others(self, api: Any) -> None:
        await api.create(headers=api.other_moderator)
        page = (await api.http.get(SCANS, params={"hospital": "St Mary"},
                                   headers=api.technician)).json()
        assert (page["items"], page["total"]) == ([], 0)

    @pytest.mark.parametrize(("field", "values", "wanted"), [
        ("true_label", ["tumor", "healthy", None], "tumor"),
        ("patient_gender", ["male", "female", "other"], "other"),
    ])
    async def test_filter_by_a_recorded_field(self, api: Any, field: str, values: list[Any],
                                              wanted: str) -> None:
        ids = {}
        for value in values:
            ids[value] = (await api.create(**{field: value}))["id"]
        page = (await api.http.get(SCANS, params={field: wanted}, headers=api.technician)).json()
        assert [item["id"] for item in page["items"]] == [ids[wanted]]

    async def test_filter_by_the_model_s_label(self, api: Any, slices: Any) -> None:
        scans = [await api.create(slices.file(seed=seed, has_tumor=seed % 2 == 0))
                 for seed in range(4)]
        for label in ("tumor", "healthy"):
            page = (await api.http.get(SCANS, params={"label": label},
                                       headers=api.technician)).json()
            assert [item["id"] for item in page["items"]] == [
                scan["id"] for scan in scans[::-1]
                if scan["classification"]["label"] == label]

    async def test_filter_by_model_version(self, api: Any, add_model_version: Any) -> None:
        first = await api.create()
        assert add_model_version() == 2
        second = await api.create()
        by_version = {
            version: [item["id"] for item in (await api.http.get(
                SCANS, params={"model_version": version}, headers=api.technician)).json()["items"]]
            for version in (1, 2, 3)}
        assert by_version == {1: [first["id"]], 2: [second["id"]], 3: []}

    async def test_created_after_is_inclusive_and_before_exclusive(self, api: Any) -> None:
        scans = [await api.create() for _ in range(3)]
        middle = scans[1]["created_at"]
        after = (await api.http.get(SCANS, params={"created_after": middle},
                                    headers=api.technician)).json()
        before = (await api.http.get(SCANS, params={"created_before": middle},
                                     headers=api.technician)).json()
        assert [item["id"] for item in after["items"]] == [scans[2]["id"], scans[1]["id"]]
        assert [item["id"] for item in before["items"]] == [scans[0]["id"]]

    async def test_a_time_without_offset_is_utc(self, api: Any) -> None:
        scan = await api.create()
        naive = scan["created_at"].removesuffix("Z")
        page = (await api.http.get(SCANS, params={"created_after": naive},
                                   headers=api.technician)).json()
        assert [item["id"] for item in page["items"]] == [scan["id"]]

    @pytest.mark.parametrize(("params", "location"), [
        ({"limit": 0}, "query.limit"), ({"limit": 501}, "query.limit"),
        ({"offset": -1}, "query.offset"), ({"label": "maybe"}, "query.label"),
        ({"patient_gender": "x"}, "query.patient_gender"),
        ({"model_version": "latest"}, "query.model_version"),
        ({"created_after": "yesterday"}, "query.created_after"),
        # Past year 9999 once in UTC: a 422, never an overflow inside the server.
        ({"created_before": "9999-12-31T23:00:00-14:00"}, "query.created_before"),
        # PostgreSQL cannot even compare text with NUL in it.
        ({"hospital": "a\x00b"}, "query.hospital"),
        ({"lable": "tumor"}, "query.lable"),
    ])
    async def test_bad_parameters_are_a_422_naming_them(self, api: Any, params: dict[str, Any],
                                                        location: str) -> None:
        response = await api.http.get(SCANS, params=params, headers=api.technician)
        assert response.status_code == 422
        assert [error["location"] for error in response.json()["errors"]] == [location]


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class TestExport:
    async def test_one_row_per_scan_newest_first(self, api: Any) -> None:
        first = await api.create(true_label="tumor", notes="first")
        second = await api.create(patient_gender="male")
        response = await api.http.get(f"{SCANS}/export.csv", headers=api.technician)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"scans.csv\"; filename*=UTF-8''scans.csv")
        assert response.text.splitlines()[0] == ",".join(CSV_COLUMNS)
        rows = _csv(response.text)
        assert [row["id"] for row in rows] == [str(second["id"]), str(first["id"])]
        assert (rows[1]["hospital"], rows[1]["patient_gender"], rows[1]["true_label"],
                rows[1]["notes"], rows[1]["created_by"]) == ("general", "female", "tumor", "first",
                                                             "7")
        assert rows[0]["true_label"] == ""

    async def test_a_row_holds_the_classification(self, api: Any) -> None:
        scan = await api.create()
        row = _csv((await api.http.get(f"{SCANS}/export.csv", headers=api.technician)).text)[0]
        result = scan["classification"]
        assert (row["label"], float(row["tumor_probability"]), float(row["probability"]),
                row["model_name"], row["model_version"]) == (
            result["label"], result["tumor_probability"], result["probability"], MRI_MODEL, "1")
        assert [int(row[f"crop_{side}"]) for side in ("min_row", "min_col", "max_row",
                                                        "max_col")] == list(
            result["crop_box"].values())

    async def test_filters_and_scope_apply(self, api: Any) -> None:
        await api.create(patient_gender="male")
        wanted = await api.create(patient_gender="female")
        await api.create(headers=api.other_moderator, patient_gender="female")
        response = await api.http.get(f"{SCANS}/export.csv", params={"patient_gender": "female"},
                                      headers=api.technician)
        assert [row["id"] for row in _csv(response.text)] == [str(wanted["id"])]

    async def test_no_scans_is_the_header_alone(self, api: Any) -> None:
        response = await api.http.get(f"{SCANS}/export.csv", headers=api.technician)
        assert response.text == ",".join(CSV_COLUMNS) + "\r\n"

    @pytest.mark.parametrize("notes", ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-2+3",
                                       "@SUM(A1)", "\uff1d1+1"])
    async def test_notes_cannot_run_as_a_formula(self, api: Any, notes: str) -> None:
        await api.create(notes=notes)
        row = _csv((await api.http.get(f"{SCANS}/export.csv", headers=api.technician)).text)[0]
        assert row["notes"] == "'" + notes

    async def test_line_breaks_and_commas_in_notes_survive(self, api: Any) -> None:
        await api.create(notes="a, \"b\"\nc")
        row = _csv((await api.http.get(f"{SCANS}/export.csv", headers=api.technician)).text)[0]
        assert row["notes"] == "a, \"b\"\nc"

    async def test_more_rows_than_the_limit_is_a_422(self, start_app: Any, auth: Any,
                                                     slices: Any) -> None:
        async with start_app(scan_export_max_rows=1) as http:
            for _ in range(2):
                created = await http.post(SCANS, headers=auth(), data={"patient_gender": "male"},
                                          files={"image": ("s.png", slices.file())})
                assert created.status_code == 201
            response = await http.get(f"{SCANS}/export.csv", headers=auth())
            narrowed = await http.get(f"{SCANS}/export.csv", headers=auth(),
                                      params={"created_after": created.json()["created_at"]})
        assert response.status_code == 422
        assert response.json()["type"].endswith("/export-too-large")
        assert (response.json()["rows"], response.json()["max_rows"]) == (2, 1)
        assert narrowed.status_code == 200

    async def test_unknown_filter_is_a_422(self, api: Any) -> None:
        response = await api.http.get(f"{SCANS}/export.csv", params={"limit": 5},
                                      headers=api.technician)
        assert response.status_code == 422
        assert response.json()["errors"][0]["location"] == "query.limit"
