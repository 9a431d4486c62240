"""The segment service end to end: algorithms and the image library through the gateway,
and the bad-input corpus of issue 3 — every case a 4xx problem+json, the service still up."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from PIL import Image

from suite_support import PROBLEM_JSON, Actor

pytestmark = pytest.mark.suite


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _two_discs() -> bytes:
    """128x128 RGB: dark background, two bright discs."""
    yy, xx = np.mgrid[:128, :128]
    pixels = np.full((128, 128, 3), 30, np.uint8)
    pixels[(yy - 40) ** 2 + (xx - 40) ** 2 < 15**2] = 220
    pixels[(yy - 90) ** 2 + (xx - 85) ** 2 < 20**2] = 200
    return _png(pixels)


def _png_claiming(width: int, height: int) -> bytes:
    """A ~70-byte PNG whose header claims ``width x height`` (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def _encoded(pixels: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    image = Image.fromarray(pixels)
    if mode is not None:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _discs_pixels() -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(_two_discs())).convert("RGB"))


@pytest.fixture(scope="module")
def technician(create_actor: Callable[..., Actor]) -> Actor:
    return create_actor("technician", "Hospital S")


class TestAlgorithms:
    def test_otsu_mask_as_png_from_a_multipart_upload(
        self, gateway: httpx.Client, technician: Actor
    ) -> None:
        response = gateway.post("/api/v1/segment/threshold", headers=technician.headers,
                                files={"image": ("discs.png", _two_discs(), "image/png")},
                                data={"opening_radius": "1"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        mask = np.asarray(Image.open(io.BytesIO(response.content)))
        assert mask.shape == (128, 128)
        assert set(np.unique(mask)) == {0, 255}

    def test_threshold_summary_as_json_from_a_data_url(
        self, gateway: httpx.Client, technician: Actor
    ) -> None:
        data_url = "data:image/png;base64," + base64.b64encode(_two_discs()).decode()
        response = gateway.post("/api/v1/segment/threshold", headers=technician.headers,
                                json={"image": data_url, "output": "json"})
        assert response.status_code == 200, response.text
        assert response.json()["object_count"] == 2

    def test_objects_are_measured_with_the_versioned_features(
        self, gateway: httpx.Client, technician: Actor
    ) -> None:
        response = gateway.post("/api/v1/segment/objects", headers=technician.headers,
                                files={"image": ("discs.png", _two_discs(), "image/png")})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == 2
        assert body["feature_set_version"]
        assert list(body["objects"][0]["features"]) == body["feature_names"]

    def test_without_a_token_the_gateway_refuses_before_the_body_is_read(
        self, gateway: httpx.Client
    ) -> None:
        response = gateway.post("/api/v1/segment/threshold",
                                files={"image": ("discs.png", _two_discs(), "image/png")})
        assert response.status_code == 401


BAD_INPUTS: dict[str, tuple[dict[str, object], int]] = {
    "not an image": ({"files": {"image": ("x.png", b"hello, world", "image/png")}}, 422),
    "empty body": ({"content": b"", "headers": {"content-type": "image/png"}}, 422),
    "truncated PNG": ({"files": {"image": ("t.png", _two_discs()[:200], "image/png")}}, 422),
    "wrong base64": ({"json": {"image": "data:image/png;base64,!!not base64!!"}}, 422),
    "data URL of text": ({"json": {"image": "data:text/plain;base64,aGVsbG8="}}, 415),
    "decompression bomb": ({"files": {"image": ("b.png", _png_claiming(100_000, 100_000),
                                                "image/png")}}, 413),
    "truncated JPEG": ({"files": {"image": ("t.jpg", _encoded(_discs_pixels(), "JPEG")[:300],
                                            "image/jpeg")}}, 422),
    "1x1 image": ({"files": {"image": ("one.png", _png(np.zeros((1, 1), np.uint8)),
                                       "image/png")}}, 422),
    "negative radius": ({"files": {"image": ("d.png", _two_discs(), "image/png")},
                         "data": {"opening_radius": "-1"}}, 422),
    "huge radius": ({"files": {"image": ("d.png", _two_discs(), "image/png")},
                     "data": {"closing_radius": str(10**9)}}, 422),
    "unknown method": ({"files": {"image": ("d.png", _two_discs(), "image/png")},
                        "data": {"method": "magic"}}, 422),
}


class TestBadInput:
    @pytest.mark.parametrize("case", list(BAD_INPUTS))
    def test_each_bad_input_is_a_4xx_problem(
        self, gateway: httpx.Client, technician: Actor, case: str
    ) -> None:
        template, expected = BAD_INPUTS[case]
        request = dict(template)
        headers = {**technician.headers, **request.pop("headers", {})}  # type: ignore[dict-item]
        response = gateway.post("/api/v1/segment/threshold", headers=headers, **request)  # type: ignore[arg-type]
        assert response.status_code == expected, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["detail"]

    def test_zero_superpixels_is_refused_naming_the_value(
        self, gateway: httpx.Client, technician: Actor
    ) -> None:
        response = gateway.post("/api/v1/segment/superpixels", headers=technician.headers,
                                files={"image": ("d.png", _two_discs(), "image/png")},
                                data={"n_segments": "0"})
        assert response.status_code == 422
        assert "n_segments" in response.json()["detail"]

    @pytest.mark.parametrize(("case", "image"), [
        ("16-bit gray PNG", lambda: _png(_discs_pixels()[..., 0].astype(np.uint16) * 257)),
        ("CMYK JPEG", lambda: _encoded(_discs_pixels(), "JPEG", "CMYK")),
        ("palette GIF", lambda: _encoded(_discs_pixels(), "GIF", "P")),
    ])
    def test_unusual_but_valid_images_are_segmented(
        self, gateway: httpx.Client, technician: Actor, case: str, image: Callable[[], bytes]
    ) -> None:
        response = gateway.post("/api/v1/segment/threshold", headers=technician.headers,
                                files={"image": ("x", image(), "application/octet-stream")},
                                data={"output": "json"})
        assert response.status_code == 200, (case, response.text)
        assert response.json()["object_count"] == 2

    def test_the_service_is_still_ready_afterwards(self, gateway: httpx.Client) -> None:
        assert gateway.get("/readyz").json()["checks"]["segment"] == "ok"


class TestImageLibrary:
    def test_upload_list_download_segment_and_delete(
        self, gateway: httpx.Client, technician: Actor
    ) -> None:
        uploaded = gateway.post("/api/v1/images", headers=technician.headers,
                                files={"image": ("discs.png", _two_discs(), "image/png")},
                                data={"name": "two discs"})
        assert uploaded.status_code == 201, uploaded.text
        image = uploaded.json()
        assert (image["width"], image["height"], image["name"]) == (128, 128, "two discs")

        listed = gateway.get("/api/v1/images", headers=technician.headers).json()
        assert image["id"] in [item["id"] for item in listed["items"]]
        jpeg = gateway.get(f"/api/v1/images/{image['id']}/content", params={"output": "jpeg"},
                           headers=technician.headers)
        assert jpeg.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(jpeg.content)).size == (128, 128)

        result = gateway.post(f"/api/v1/images/{image['id']}/segmentations",
                              headers=technician.headers,
                              json={"operation": "threshold", "params": {"opening_radius": 1}})
        assert result.status_code == 201, result.text
        assert result.json()["summary"]["object_count"] == 2
        content = gateway.get(f"/api/v1/images/{image['id']}/segmentations/"
                              f"{result.json()['id']}/content", headers=technician.headers)
        assert content.headers["content-type"] == "image/png"
        found = gateway.get("/api/v1/images", params={"q": "TWO DISCS", "sort": "-bytes"},
                            headers=technician.headers).json()
        assert image["id"] in [item["id"] for item in found["items"]]
        usage = gateway.get("/api/v1/images/usage", headers=technician.headers).json()
        assert usage["images"]["used"] >= 1 and usage["bytes"]["limit"] > 0
        as_json = gateway.get(result.json()["content_url"], params={"output": "json"},
                              headers=technician.headers).json()
        assert as_json["image"]["media_type"] == "image/png" and as_json["object_count"] == 2
        assert gateway.delete(result.json()["url"], headers=technician.headers).status_code == 204
        assert gateway.get(result.json()["url"], headers=technician.headers).status_code == 404

        assert gateway.delete(f"/api/v1/images/{image['id']}",
                              headers=technician.headers).status_code == 204
        assert gateway.get(f"/api/v1/images/{image['id']}",
                           headers=technician.headers).status_code == 404

    @pytest.mark.parametrize("other", ["technician", "moderator", "admin"])
    def test_another_user_gets_404_whatever_their_role(
        self, gateway: httpx.Client, technician: Actor, admin: Actor,
        create_actor: Callable[..., Actor], other: str,
    ) -> None:
        uploaded = gateway.post("/api/v1/images", headers=technician.headers,
                                files={"file": ("discs.png", _two_discs(), "image/png")}).json()
        stranger = admin if other == "admin" else create_actor(other, technician.hospital)
        for method, suffix in (("GET", ""), ("GET", "/content"), ("PATCH", ""), ("DELETE", "")):
            body = {"name": "mine now"} if method == "PATCH" else None
            response = gateway.request(method, f"/api/v1/images/{uploaded['id']}{suffix}",
                                       json=body, headers=stranger.headers)
            assert response.status_code == 404, (method, suffix, response.text)
        still = gateway.get(f"/api/v1/images/{uploaded['id']}", headers=technician.headers)
        assert still.json()["name"] != "mine now"
