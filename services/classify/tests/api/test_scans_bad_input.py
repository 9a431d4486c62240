"""``POST /scans`` with bad input: a 4xx problem+json that says what is wrong, and nothing stored."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

SCANS = "/api/v1/scans"
PROBLEM_JSON = "application/problem+json"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with one tiny (wrong) IDAT: never decodable."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))
            + chunk(b"IEND", b""))


async def _post(api: Any, data: bytes, **fields: str) -> Any:
    return await api.http.post(SCANS, headers=api.technician,
                               files={"image": ("slice.png", data)},
                               data={"patient_gender": "female", **fields})


async def _nothing_stored(api: Any, tmp_path: Path) -> bool:
    listed = (await api.http.get(SCANS, headers=api.admin)).json()
    blobs = [path for path in (tmp_path / "classify-blobs").rglob("*") if path.is_file()]
    return listed["total"] == 0 and blobs == []


class TestUnreadableImages:
    @pytest.mark.parametrize(("name", "needle"), [
        ("text", "neither a PNG, JPEG or TIFF image nor a DICOM file"),
        ("empty", "empty (0 bytes)"),
        ("truncated png", "truncated or corrupt"),
        ("truncated jpeg", "truncated or corrupt"),
        ("dicom marker then garbage", "the DICOM file has no pixel data"),
        ("truncated dicom", "truncated or corrupt"),
        ("dicom without pixel data", "no pixel data"),
    ])
    async def test_is_a_422_that_says_why_and_stores_nothing(
            self, api: Any, slices: Any, tmp_path: Path, name: str, needle: str) -> None:
        png, jpeg = slices.file(format="png"), slices.file(format="jpeg")
        dicom = slices.file(format="dicom")
        data = {
            "text": b"this is not an image at all",
            "empty": b"",
            "truncated png": png[: len(png) // 2],
            "truncated jpeg": jpeg[: len(jpeg) // 3],
            "dicom marker then garbage": bytes(128) + b"DICM" + b"\xff" * 300,
            "truncated dicom": dicom[: len(dicom) - 100],
            "dicom without pixel data": slices.dicom(slices.pixels(), with_pixels=False),
        }[name]
        response = await _post(api, data)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"].endswith("/unreadable-image")
        assert needle in response.json()["detail"]
        assert await _nothing_stored(api, tmp_path)

    async def test_another_image_format_is_a_415(self, api: Any, tmp_path: Path) -> None:
        out = io.BytesIO()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(out, format="GIF")
        response = await _post(api, out.getvalue())
        assert response.status_code == 415
        assert response.json()["type"].endswith("/unsupported-format")
        assert "GIF" in response.json()["detail"]
        assert await _nothing_stored(api, tmp_path)


class TestNoBrain:
    @pytest.mark.parametrize("fill", [0, 200])
    async def test_a_flat_slice_is_refused(self, api: Any, slices: Any, tmp_path: Path,
                                           fill: int) -> None:
        blank = slices.encode(np.full((64, 64), fill, np.uint8))
        response = await _post(api, blank)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"].endswith("/no-brain-found")
        assert response.json()["detail"].startswith("no brain outline was found in the slice")
        assert await _nothing_stored(api, tmp_path)

    async def test_a_dark_slice_with_specks_is_refused(self, api: Any, slices: Any,
                                                       tmp_path: Path) -> None:
        specks = np.zeros((128, 128), np.uint8)
        specks[10, 10] = specks[90, 40] = 255
        response = await _post(api, slices.encode(specks))
        assert response.status_code == 422
        assert response.json()["type"].endswith("/no-brain-found")
        assert await _nothing_stored(api, tmp_path)


class TestTooLarge:
    async def test_huge_dimensions_are_refused_from_the_header(self, api: Any,
                                                               tmp_path: Path) -> None:
        data = _png_header_only(100_000, 100_000)
        response = await _post(api, data)
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"].endswith("/image-too-large")
        assert response.json()["pixels"] == 10_000_000_000
        assert await _nothing_stored(api, tmp_path)

    async def test_the_pixel_limit_is_the_setting(self, start_app: Any, auth: Any,
                                                  slices: Any) -> None:
        async with start_app(max_image_pixels=slices.size**2 - 1) as http:
            response = await http.post(SCANS, headers=auth(), data={"patient_gender": "male"},
                                       files={"image": ("s.dcm", slices.file(format="dicom"))})
        assert response.status_code == 413
        assert response.json()["max_pixels"] == slices.size**2 - 1

    async def test_a_body_over_the_limit_is_a_413(self, start_app: Any, auth: Any,
                                                  slices: Any) -> None:
        async with start_app(max_body_bytes=1000) as http:
            response = await http.post(SCANS, headers=auth(), data={"patient_gender": "male"},
                                       files={"image": ("s.png", slices.file())})
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_JSON


class TestFields:
    @pytest.mark.parametrize(("fields", "location"), [
        ({"patient_gender": "robot"}, "body.patient_gender"),
        ({"patient_gender": "Female"}, "body.patient_gender"),
        ({"true_label": "cancer"}, "body.true_label"),
        ({"hospital": "x" * 121}, "body.hospital"),
        ({"colour": "red"}, "body.colour"),
    ])
    async def test_an_invalid_field_is_a_422_naming_it(self, api: Any, slices: Any,
                                                       tmp_path: Path, fields: dict[str, str],
                                                       location: str) -> None:
        response = await _post(api, slices.file(), **fields)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert [error["location"] for error in response.json()["errors"]] == [location]
        assert await _nothing_stored(api, tmp_path)

    async def test_patient_gender_is_required(self, api: Any, slices: Any) -> None:
        response = await api.http.post(SCANS, headers=api.technician,
                                       files={"image": ("slice.png", slices.file())})
        assert response.status_code == 422
        assert response.json()["errors"][0]["location"] == "body.patient_gender"
        assert response.json()["errors"][0]["type"] == "missing"

    async def test_the_image_is_required(self, api: Any) -> None:
        response = await api.http.post(SCANS, headers=api.technician,
                                       files={"notes": (None, b"no file")},
                                       data={"patient_gender": "male"})
        assert response.status_code == 422
        assert response.json()["type"].endswith("/unreadable-image")
        assert "the request has no field 'image'" in response.json()["detail"]

    async def test_a_second_file_is_a_422(self, api: Any, slices: Any, tmp_path: Path) -> None:
        response = await api.http.post(SCANS, headers=api.technician,
                                       files={"image": ("s.png", slices.file()),
                                              "other": ("x.txt", b"1")},
                                       data={"patient_gender": "male"})
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["detail"] == "other must be a form field, not a file"
        assert await _nothing_stored(api, tmp_path)

    async def test_notes_over_the_limit_are_a_422(self, start_app: Any, auth: Any, slices: Any,
                                                  tmp_path: Path) -> None:
        async with start_app(scan_notes_max_chars=20) as http:
            response = await http.post(SCANS, headers=auth(),
                                       data={"patient_gender": "male", "notes": "n" * 21},
                                       files={"image": ("s.png", slices.file())})
            listed = (await http.get(SCANS, headers=auth())).json()
        assert response.status_code == 422
        assert response.json()["type"].endswith("/invalid-scan-data")
        assert (response.json()["field"], response.json()["detail"]) == (
            "notes", "the notes have 21 characters; the limit is 20")
        assert listed["total"] == 0

    @pytest.mark.parametrize("notes", ["bell\x07", "nul\x00"])
    async def test_notes_with_control_characters_are_a_422(self, api: Any, slices: Any,
                                                           tmp_path: Path, notes: str) -> None:
        response = await _post(api, slices.file(), notes=notes)
        assert response.status_code == 422
        assert response.json()["detail"] == (
            "the notes contain control characters other than line breaks and tabs; remove them")
        assert await _nothing_stored(api, tmp_path)

    async def test_another_content_type_is_a_415(self, api: Any) -> None:
        response = await api.http.post(SCANS, headers={**api.technician,
                                                       "content-type": "text/plain"},
                                       content=b"hello")
        assert response.status_code == 415
        assert response.headers["content-type"] == PROBLEM_JSON


class TestNoModel:
    async def test_without_a_loadable_model_it_is_a_503_and_nothing_is_stored(
            self, start_app: Any, auth: Any, slices: Any, tmp_path: Path) -> None:
        async with start_app(model_dir=tmp_path / "empty-store") as http:
            response = await http.post(SCANS, headers=auth(), data={"patient_gender": "male"},
                                       files={"image": ("s.png", slices.file())})
            listed = (await http.get(SCANS, headers=auth())).json()
        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"].endswith("/model-unavailable")
        assert listed["total"] == 0
        assert [p for p in (tmp_path / "classify-blobs").rglob("*") if p.is_file()] == []
