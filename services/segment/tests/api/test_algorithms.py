"""The algorithm routes in-process: every route, every output, and the bad-input corpus."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.filters import threshold_otsu

from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION
from specimen_imaging.objects import DEFAULT_MAX_OBJECTS, configure_object_limit
from specimen_kit.jwk import generate_private_key_pem, public_jwk
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.testing import mint_token
from specimen_kit.tokens import StaticKeySource, TokenVerifier
from specimen_segment.app import create_app
from specimen_segment.config import SegmentSettings

BASE = "/api/v1/segment"
README = Path(__file__).resolve().parents[4] / "README.md"


@pytest.fixture(scope="module")
def private_pem() -> str:
    return generate_private_key_pem()


@pytest.fixture
async def client(private_pem: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = SegmentSettings(
        jwks_url="http://127.0.0.1:9/jwks.json", data_dir=tmp_path, max_image_pixels=5_000_000
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.token_verifier = TokenVerifier(
            StaticKeySource({"keys": [public_jwk(private_pem)]}), "specimen-users"
        )
        token = mint_token(private_pem, role="technician")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://segment",
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            yield http


async def test_more_objects_than_the_setting_is_a_422_naming_it(private_pem: str,
                                                                 tmp_path: Path) -> None:
    settings = SegmentSettings(jwks_url="http://127.0.0.1:9/jwks.json", data_dir=tmp_path,
                               max_objects=3)
    app = create_app(settings)
    specks = np.zeros((40, 40), np.uint8)
    specks[4::8, 4::8] = 255  # 25 objects
    try:
        async with app.router.lifespan_context(app):
            app.state.token_verifier = TokenVerifier(
                StaticKeySource({"keys": [public_jwk(private_pem)]}), "specimen-users")
            token = mint_token(private_pem, role="technician")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://segment",
                                         headers={"Authorization": f"Bearer {token}"}) as http:
                response = await http.post(f"{BASE}/objects", files={"image": ("s.png", png(specks))})
    finally:
        configure_object_limit(DEFAULT_MAX_OBJECTS)  # a process setting: leave it as found
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/too-many-objects")
    assert "25 objects, more than the limit of 3" in response.json()["detail"]

def decoded_png(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


def picture_of(body: dict[str, Any]) -> np.ndarray:
    """The picture a JSON answer carries (API.md: ``{"image": {...}, ...facts}``)."""
    image = body["image"]
    assert set(image) == {"media_type", "width", "height", "data"}
    assert image["media_type"] == "image/png"
    pixels = decoded_png(image["data"])
    assert (image["width"], image["height"]) == (pixels.shape[1], pixels.shape[0])
    return pixels


def png(pixels: np.ndarray, **options: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", **options)
    return out.getvalue()


def encoded(pixels: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    img = Image.fromarray(pixels)
    if mode:
        img = img.convert(mode)
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def blobs() -> np.ndarray:
    """Dark background with three bright squares, one touching the border."""
    img = np.full((64, 80), 20, np.uint8)
    img[10:20, 10:20] = 200
    img[30:50, 40:55] = 220
    img[0:8, 70:80] = 210
    return img


def decoded(response: httpx.Response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    for word in words:
        assert word.lower() in body["detail"].lower(), body["detail"]
    return body


def upload(image: bytes, **fields: Any) -> dict[str, Any]:
    return {
        "files": {"image": ("image.png", image, "application/octet-stream")},
        "data": {k: str(v) for k, v in fields.items()},
    }


class TestAuthentication:
    async def test_no_token_is_401_before_the_body_is_read(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/threshold", content=b"not an image", headers={"Authorization": ""}
        )
        assert_problem(response, 401, "bearer")


class TestThreshold:
    async def test_default_is_an_otsu_mask_png_equal_to_scikit_image(self, client: httpx.AsyncClient) -> None:
        coins = data.coins()
        response = await client.post(f"{BASE}/threshold", **upload(png(coins)))
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        mask = decoded(response)
        assert mask.shape == coins.shape
        np.testing.assert_array_equal(mask > 0, coins > threshold_otsu(coins))

    async def test_json_summary_from_a_json_body_with_a_data_url(self, client: httpx.AsyncClient) -> None:
        image = "data:image/png;base64," + base64.b64encode(png(blobs())).decode()
        response = await client.post(f"{BASE}/threshold", json={"image": image, "output": "json"})
        assert response.status_code == 200
        body = response.json()
        assert body["object_count"] == 3
        assert body["foreground_fraction"] == pytest.approx((100 + 300 + 80) / (64 * 80))
        assert 20 <= body["threshold"] < 200

    async def test_accept_header_chooses_json_and_area_filter_applies(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            f"{BASE}/threshold",
            **upload(png(blobs()), min_area=90, max_area=200),
            headers={"Accept": "application/json"},
        )
        assert response.json()["object_count"] == 1

    async def test_dark_on_light_fixed_threshold(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/threshold",
            json={
                "image": base64.b64encode(png(255 - blobs())).decode(),
                "method": "fixed",
                "value": 100,
                "polarity": "dark-on-light",
                "output": "json",
            },
        )
        assert response.json()["object_count"] == 3
        assert response.json()["threshold"] == 100

    async def test_quantile_with_opening_closing_and_hole_filling(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/threshold?output=json",
            **upload(
                png(blobs()),
                method="quantile",
                quantile=0.8,
                opening_radius=1,
                closing_radius=2,
                fill_holes="true",
            ),
        )
        assert response.status_code == 200
        assert response.json()["object_count"] >= 1

    @pytest.mark.parametrize("fmt", ["png", "jpeg", "gif", "webp", "tiff", "bmp"])
    async def test_overlay_in_every_image_format(self, client: httpx.AsyncClient, fmt: str) -> None:
        response = await client.post(
            f"{BASE}/threshold", **upload(png(blobs()), result="overlay", output=fmt)
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == f"image/{fmt}"
        img = Image.open(io.BytesIO(response.content))
        assert img.format == fmt.upper() and img.size == (80, 64)

    async def test_cutout_on_transparent_and_on_white(self, client: httpx.AsyncClient) -> None:
        clear = decoded(
            await client.post(
                f"{BASE}/threshold", **upload(png(blobs()), result="cutout", background="transparent")
            )
        )
        white = decoded(await client.post(f"{BASE}/threshold", **upload(png(blobs()), result="cutout")))
        assert clear.shape == (64, 80, 4) and clear[0, 0, 3] == 0 and clear[15, 15, 3] == 255
        assert white.shape == (64, 80, 3) and white[0, 0].tolist() == [255, 255, 255]
        assert white[15, 15].tolist() == [200, 200, 200]

    async def test_accept_image_jpeg_answers_jpeg(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/threshold", **upload(png(blobs())), headers={"Accept": "image/jpeg, image/png;q=0.5"}
        )
        assert response.headers["content-type"] == "image/jpeg"
        assert response.headers["vary"] == "Accept"

    async def test_raw_image_body_with_query_parameters(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/threshold?output=json&min_area=200",
            content=png(blobs()),
            headers={"Content-Type": "image/png"},
        )
        assert response.json()["object_count"] == 1

    async def test_a_flat_image_is_422_saying_so(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{BASE}/threshold", **upload(png(np.full((8, 8), 7, np.uint8))))
        body = assert_problem(response, 422, "cannot be thresholded", "7")
        assert body["type"].endswith("flat-image")


class TestNegotiation:
    async def test_nothing_acceptable_is_406(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/threshold", **upload(png(blobs())), headers={"Accept": "text/html"}
        )
        assert_problem(response, 406, "text/html")

    async def test_an_output_the_route_does_not_offer_is_422_naming_it(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(f"{BASE}/threshold", **upload(png(blobs()), output="zip"))
        assert_problem(response, 422, "output='zip'", "png")

    async def test_q_zero_excludes_and_wildcard_falls_back(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/threshold", **upload(png(blobs())), headers={"Accept": "image/png;q=0, */*;q=0.1"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] != "image/png"


class TestSuperpixels:
    async def test_labels_as_16_bit_png_are_deterministic(self, client: httpx.AsyncClient) -> None:
        image = png(data.astronaut()[::4, ::4])
        first = await client.post(f"{BASE}/superpixels", **upload(image, n_segments=50))
        second = await client.post(f"{BASE}/superpixels", **upload(image, n_segments=50))
        assert first.status_code == 200 and first.headers["content-type"] == "image/png"
        labels = np.asarray(Image.open(io.BytesIO(first.content)))
        assert labels.dtype == np.uint16 and labels.shape == (128, 128)
        assert 20 <= len(np.unique(labels)) <= 100
        assert first.content == second.content

    async def test_json_rle_decodes_to_the_png_labels_with_centroids(self, client: httpx.AsyncClient) -> None:
        image = png(data.astronaut()[::4, ::4])
        labels = decoded(await client.post(f"{BASE}/superpixels", **upload(image, n_segments=30)))
        body = (
            await client.post(f"{BASE}/superpixels", **upload(image, n_segments=30, output="json"))
        ).json()
        rle = body["labels"]
        flat = np.repeat(np.array(rle["values"]), rle["lengths"]).reshape(rle["shape"])
        np.testing.assert_array_equal(flat, labels)
        assert body["segment_count"] == len(body["centroids"]) == int(labels.max()) + 1
        raw = (
            await client.post(
                f"{BASE}/superpixels", **upload(image, n_segments=30, output="json", labels_encoding="base64")
            )
        ).json()["labels"]
        array = np.frombuffer(base64.b64decode(raw["data"]), "<u2").reshape(raw["shape"])
        np.testing.assert_array_equal(array, labels)

    async def test_mask_leaves_outside_pixels_at_65535(self, client: httpx.AsyncClient) -> None:
        mask = np.zeros((128, 128), np.uint8)
        mask[:, :64] = 255
        response = await client.post(
            f"{BASE}/superpixels",
            files={"image": ("a.png", png(data.astronaut()[::4, ::4])), "mask": ("m.png", png(mask))},
            data={"n_segments": "20"},
        )
        labels = decoded(response)
        assert (labels[:, 64:] == 65535).all() and (labels[:, :64] < 65535).all()

    async def test_boundary_overlay(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/superpixels", **upload(png(data.astronaut()[::4, ::4]), result="overlay", output="webp")
        )
        assert response.headers["content-type"] == "image/webp"
        overlay = decoded(response)
        assert ((overlay == [255, 255, 0]).all(axis=2)).any()

    async def test_labels_refuse_lossy_formats(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{BASE}/superpixels", **upload(png(blobs()), output="jpeg"))
        assert_problem(response, 422, "output='jpeg'", "tiff")


class TestSelection:
    async def test_selected_region_on_transparent_matches_the_labels(self, client: httpx.AsyncClient) -> None:
        image = png(data.astronaut()[::4, ::4])
        labels = decoded(await client.post(f"{BASE}/superpixels", **upload(image, n_segments=40)))
        response = await client.post(
            f"{BASE}/superpixels/selection",
            json={
                "image": base64.b64encode(image).decode(),
                "n_segments": 40,
                "ids": [0, 3],
                "background": "transparent",
            },
        )
        cut = decoded(response)
        np.testing.assert_array_equal(cut[..., 3] > 0, np.isin(labels, [0, 3]))

    async def test_mask_and_json_forms(self, client: httpx.AsyncClient) -> None:
        image = png(data.astronaut()[::4, ::4])
        mask = decoded(
            await client.post(
                f"{BASE}/superpixels/selection", **upload(image, n_segments=40, ids="1,2", result="mask")
            )
        )
        body = (
            await client.post(
                f"{BASE}/superpixels/selection", **upload(image, n_segments=40, ids="1,2", output="json")
            )
        ).json()
        assert body["ids"] == [1, 2]
        assert body["pixel_count"] == int((mask > 0).sum()) > 0
        assert np.array_equal(decoded_png(body["mask"]), mask)
        assert picture_of(body).shape == (128, 128, 3)

    async def test_unknown_ids_are_422_naming_them(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/superpixels/selection",
            **upload(png(data.astronaut()[::4, ::4]), n_segments=10, ids="1,5000,7000"),
        )
        assert_problem(response, 422, "unknown superpixel ids", "5000", "7000")

    async def test_no_ids_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{BASE}/superpixels/selection", **upload(png(blobs())))
        assert_problem(response, 422, "ids is required")


class TestObjects:
    async def test_json_lists_each_object_with_versioned_features(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{BASE}/objects", **upload(png(blobs())))
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["count"] == 3 and body["feature_set_version"] == FEATURE_SET_VERSION
        assert body["feature_names"] == list(FEATURE_NAMES)
        first = body["objects"][0]
        assert first["bbox"] == {"min_row": 0, "min_col": 70, "max_row": 8, "max_col": 80}
        assert list(first["features"]) == list(FEATURE_NAMES)
        assert first["features"]["area"] == 80 and first["features"]["intensity_mean"] == 210
        assert first["crop"] is None and body["overlay"] is None

    async def test_border_objects_dropped_and_crops_masks_overlay_on_request(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            f"{BASE}/objects",
            **upload(
                png(blobs()),
                keep_border="false",
                padding=2,
                fade_background=1,
                include_crops="true",
                include_masks="true",
                include_overlay="true",
            ),
        )
        body = response.json()
        assert body["count"] == 2
        small = body["objects"][0]
        assert small["centroid"] == [14.5, 14.5]
        crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(small["crop"]))))
        assert crop.shape == (14, 14, 3) and crop[0, 0].tolist() == [255, 255, 255]
        mask_img = Image.open(io.BytesIO(base64.b64decode(small["mask"])))
        assert mask_img.mode == "1" and np.asarray(mask_img).sum() == 100
        overlay = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["overlay"]))))
        assert overlay.shape == (64, 80, 3)

    async def test_uploaded_mask_defines_the_objects(self, client: httpx.AsyncClient) -> None:
        mask = np.zeros((64, 80), np.uint8)
        mask[5:15, 5:25] = 255
        response = await client.post(
            f"{BASE}/objects",
            json={
                "image": base64.b64encode(png(blobs())).decode(),
                "mask": base64.b64encode(png(mask)).decode(),
            },
        )
        body = response.json()
        assert body["count"] == 1 and body["objects"][0]["features"]["area"] == 200

    async def test_zip_holds_crops_and_a_csv_in_feature_order(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/objects", **upload(png(blobs()), output="zip", include_masks="true")
        )
        assert response.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        rows = list(csv.DictReader(io.StringIO(archive.read("objects.csv").decode())))
        assert len(rows) == 3
        header = list(rows[0])
        assert header[-len(FEATURE_NAMES) :] == list(FEATURE_NAMES)
        for row in rows:
            crop = Image.open(io.BytesIO(archive.read(row["crop"])))
            assert crop.size == (
                int(row["bbox_max_col"]) - int(row["bbox_min_col"]),
                int(row["bbox_max_row"]) - int(row["bbox_min_row"]),
            )
        assert len([n for n in archive.namelist() if n.startswith("masks/")]) == 3
        assert float(rows[1]["area"]) == 100.0

    async def test_readme_csv_columns_and_feature_set_agree_with_the_archive(
        self, client: httpx.AsyncClient
    ) -> None:
        readme = README.read_text(encoding="utf-8")
        features = re.search(r"\*\*Object features\*\*[^:]*:\s*`([^`]*)`", readme)
        columns = re.search(r"<!-- objects.csv columns -->\s*`([^`]*)`", readme)
        assert features and columns
        documented = [name.strip() for text in (columns[1], features[1])
                      for name in text.split(",")]
        response = await client.post(f"{BASE}/objects", **upload(png(blobs()), output="zip"))
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        header = archive.read("objects.csv").decode().splitlines()[0].split(",")
        assert documented == header
        feature_set = archive.read("feature_set.txt").decode().splitlines()
        assert feature_set[0] == f"feature_set_version={FEATURE_SET_VERSION}"
        assert [line for line in feature_set[1:] if not line.startswith("#")] == list(FEATURE_NAMES)
        assert any("max_row and max_col are exclusive" in line for line in feature_set)
        assert "`max_row` and `max_col` exclusive" in readme

    async def test_json_and_csv_say_the_same_of_each_object(self, client: httpx.AsyncClient) -> None:
        body = (await client.post(f"{BASE}/objects", **upload(png(blobs())))).json()
        archive = zipfile.ZipFile(io.BytesIO(
            (await client.post(f"{BASE}/objects", **upload(png(blobs()), output="zip"))).content))
        rows = list(csv.DictReader(io.StringIO(archive.read("objects.csv").decode())))
        assert isinstance(body["feature_set_version"], str)
        assert body["feature_names"] == list(FEATURE_NAMES)
        for item, row in zip(body["objects"], rows, strict=True):
            assert int(row["id"]) == item["id"]
            assert {k: int(row[f"bbox_{k}"]) for k in item["bbox"]} == item["bbox"]
            assert [float(row["centroid_row"]), float(row["centroid_col"])] == item["centroid"]
            assert {n: float(row[n]) for n in FEATURE_NAMES} == item["features"]

    async def test_overlay_image_when_an_image_is_asked_for(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/objects", **upload(png(blobs())), headers={"Accept": "image/png"}
        )
        assert response.headers["content-type"] == "image/png"
        assert decoded(response)[10, 10].tolist() == [255, 0, 0]

    async def test_mask_of_another_size_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/objects",
            files={"image": ("a.png", png(blobs())), "mask": ("m.png", png(np.zeros((5, 5), np.uint8)))},
        )
        assert_problem(response, 422, "mask is 5x5", "80x64")


class TestBackgroundVignettingConvert:
    async def test_background_is_an_rgba_cutout(self, client: httpx.AsyncClient) -> None:
        img = np.zeros((60, 60, 3), np.uint8)
        img[:] = (30, 90, 40)
        img[15:45, 15:45] = (220, 60, 50)
        response = await client.post(f"{BASE}/background", **upload(png(img)))
        assert response.headers["content-type"] == "image/png"
        cut = decoded(response)
        assert cut.shape == (60, 60, 4)
        assert (cut[15:45, 15:45, 3] == 255).all() and cut[..., 3].sum() == 255 * 900
        body = (await client.post(f"{BASE}/background", **upload(png(img), output="json"))).json()
        assert body["foreground_fraction"] == pytest.approx(0.25)
        assert np.array_equal(picture_of(body), cut)

    async def test_background_of_a_flat_image_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{BASE}/background", **upload(png(np.zeros((9, 9), np.uint8))))
        assert_problem(response, 422, "cannot be thresholded")

    async def test_vignetting_flattens_a_ramp(self, client: httpx.AsyncClient) -> None:
        ramp = np.tile(np.linspace(80, 200, 64), (64, 1)).astype(np.uint8)
        response = await client.post(f"{BASE}/vignetting", **upload(png(ramp), sigma=3))
        out = decoded(response)
        assert out.shape == ramp.shape and np.ptp(out[:, 10:54]) < np.ptp(ramp[:, 10:54]) / 4
        body = (await client.post(f"{BASE}/vignetting", **upload(png(ramp), output="json"))).json()
        assert body["sigma"] == 50 and body["image"]["width"] == 64

    @pytest.mark.parametrize("fmt", ["png", "jpeg", "gif", "webp", "tiff", "bmp"])
    async def test_convert_rgba_to_every_format(self, client: httpx.AsyncClient, fmt: str) -> None:
        rgba = np.zeros((8, 8, 4), np.uint8)
        rgba[..., 0] = 200
        rgba[:4, :, 3] = 255
        response = await client.post(f"{BASE}/convert", **upload(png(rgba), output=fmt))
        assert response.headers["content-type"] == f"image/{fmt}"
        img = Image.open(io.BytesIO(response.content))
        assert img.format == fmt.upper()
        if fmt in ("jpeg", "bmp"):
            assert np.asarray(img.convert("RGB"))[6, 6].tolist() == pytest.approx([255, 255, 255], abs=3)

    async def test_convert_takes_the_first_frame_of_an_animated_gif(self, client: httpx.AsyncClient) -> None:
        frames = [Image.fromarray(np.full((6, 6), v, np.uint8)).convert("P") for v in (10, 250)]
        out = io.BytesIO()
        frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
        response = await client.post(
            f"{BASE}/convert?output=json", content=out.getvalue(), headers={"Content-Type": "image/gif"}
        )
        body = response.json()
        assert body["source_format"] == "gif"
        first = picture_of(body)
        assert int(first.max()) < 50


def _tiny_png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def _cmyk_jpeg() -> bytes:
    return encoded(data.astronaut()[:32, :32], "JPEG", "CMYK")


def _palette_gif() -> bytes:
    return encoded(blobs(), "GIF", "P")


def _sixteen_bit_png() -> bytes:
    img = blobs().astype(np.uint16) * 257
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue()


class TestJsonCarriesThePicture:
    """Issue 10: the JSON of every picture route is ``{"image": {...}, ...facts}``."""

    async def test_threshold_json_holds_the_mask_it_describes(self, client: httpx.AsyncClient) -> None:
        mask = decoded(await client.post(f"{BASE}/threshold", **upload(png(blobs()))))
        body = (await client.post(f"{BASE}/threshold", **upload(png(blobs()), output="json"))).json()
        assert np.array_equal(picture_of(body), mask)
        assert set(body) == {"image", "threshold", "foreground_fraction", "object_count"}

    async def test_superpixels_json_holds_the_16_bit_labels(self, client: httpx.AsyncClient) -> None:
        image = png(data.astronaut()[::4, ::4])
        labels = decoded(await client.post(f"{BASE}/superpixels", **upload(image, n_segments=30)))
        body = (await client.post(f"{BASE}/superpixels",
                                  **upload(image, n_segments=30, output="json"))).json()
        pixels = picture_of(body)
        assert pixels.dtype == np.uint16 and np.array_equal(pixels, labels)

    @pytest.mark.parametrize(("route", "fields"), [
        ("threshold", {}), ("superpixels", {"n_segments": 9}),
        ("superpixels/selection", {"n_segments": 9, "ids": "0"}), ("background", {}),
        ("vignetting", {}), ("convert", {}),
    ])
    async def test_every_picture_route_has_the_same_layout(self, client: httpx.AsyncClient,
                                                           route: str, fields: dict[str, Any]) -> None:
        img = np.dstack([blobs()] * 3)
        body = (await client.post(f"{BASE}/{route}", **upload(png(img), output="json", **fields))).json()
        assert picture_of(body).shape[:2] == (64, 80)
        assert "metadata" not in body


class TestTransparentCutouts:
    """Issue 10: transparent cut-outs kept the original RGB under alpha 0 (97,773 of 97,773
    background pixels of scikit-image's coffee) and were 14x larger than they need be."""

    @pytest.mark.parametrize(("route", "fields"), [
        ("background", {"background": "transparent"}),
        ("superpixels/selection", {"n_segments": 30, "ids": "0,1,2", "background": "transparent"}),
        ("threshold", {"result": "cutout", "background": "transparent"}),
    ])
    async def test_no_colour_survives_under_alpha_zero(self, client: httpx.AsyncClient, route: str,
                                                       fields: dict[str, Any]) -> None:
        coffee = data.coffee()[::2, ::2]
        response = await client.post(f"{BASE}/{route}", **upload(png(coffee), **fields))
        assert response.status_code == 200, response.text
        cut = decoded(response)
        hidden = cut[..., 3] == 0
        assert hidden.sum() > 1000
        assert int(cut[hidden][:, :3].max()) == 0
        leaky = cut.copy()
        leaky[hidden, :3] = coffee[hidden]
        assert len(response.content) < len(png(leaky))


class TestConvertQuality:
    @pytest.mark.parametrize("fmt", ["jpeg", "webp"])
    async def test_lower_quality_gives_a_smaller_file(self, client: httpx.AsyncClient, fmt: str) -> None:
        image = png(data.astronaut()[::2, ::2])
        low = await client.post(f"{BASE}/convert", **upload(image, output=fmt, quality=10))
        high = await client.post(f"{BASE}/convert", **upload(image, output=fmt, quality=95))
        assert low.headers["content-type"] == f"image/{fmt}"
        assert len(low.content) < len(high.content) / 2

    @pytest.mark.parametrize("quality", ["0", "101", "high"])
    async def test_quality_out_of_range_is_a_422(self, client: httpx.AsyncClient, quality: str) -> None:
        response = await client.post(f"{BASE}/convert", **upload(png(blobs()), output="jpeg",
                                                                  quality=quality))
        assert_problem(response, 422, "quality")


class TestBadInput:
    @pytest.mark.parametrize(
        ("body", "status", "words"),
        [
            (b"this is not an image", 422, ("not an image",)),
            (b"", 422, ("empty",)),
            (png(blobs())[:60], 422, ("truncated",)),
            (encoded(data.astronaut()[:64, :64], "JPEG")[:300], 422, ("truncated",)),
            (_tiny_png_claiming(100_000, 100_000), 413, ("10000000000", "limit")),
        ],
        ids=["not-an-image", "empty", "truncated-png", "truncated-jpeg", "decompression-bomb"],
    )
    async def test_bad_uploads_are_4xx_problems(
        self, client: httpx.AsyncClient, body: bytes, status: int, words: tuple[str, ...]
    ) -> None:
        for how in ("multipart", "raw"):
            if how == "multipart":
                response = await client.post(f"{BASE}/threshold", **upload(body))
            else:
                response = await client.post(
                    f"{BASE}/threshold", content=body, headers={"Content-Type": "image/png"}
                )
            assert_problem(response, status, *words)

    async def test_bomb_is_refused_from_the_header_quickly(self, client: httpx.AsyncClient) -> None:
        bomb = _tiny_png_claiming(3000, 3000)
        assert len(bomb) < 100
        response = await client.post(f"{BASE}/convert", content=bomb, headers={"Content-Type": "image/png"})
        assert_problem(response, 413, "9000000", "5000000")

    @pytest.mark.parametrize(
        ("image", "status", "words"),
        [
            ("%%%not base64%%%", 422, ("not valid base64",)),
            ("data:text/plain;base64,aGVsbG8=", 415, ("text/plain",)),
            ("data:image/png,rawdata", 422, ("base64",)),
            ("", 422, ("empty",)),
            ("aGVsbG8gd29ybGQ=", 422, ("not an image",)),
        ],
        ids=["wrong-base64", "data-url-of-text", "data-url-not-base64", "empty-string", "base64-of-text"],
    )
    async def test_bad_json_images(
        self, client: httpx.AsyncClient, image: str, status: int, words: tuple[str, ...]
    ) -> None:
        response = await client.post(f"{BASE}/threshold", json={"image": image})
        assert_problem(response, status, *words)

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            ({}, ("no field 'image'",)),
            ({"image": 12}, ("image must be a base64 string",)),
            ([1, 2], ("must be an object",)),
        ],
    )
    async def test_bad_json_bodies(
        self, client: httpx.AsyncClient, body: Any, words: tuple[str, ...]
    ) -> None:
        response = await client.post(f"{BASE}/threshold", json=body)
        assert_problem(response, 422, *words)

    async def test_malformed_json_and_empty_body_and_foreign_content_type(
        self, client: httpx.AsyncClient
    ) -> None:
        bad = await client.post(
            f"{BASE}/threshold", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert_problem(bad, 400, "not valid JSON")  # API.md: malformed JSON is a 400 everywhere
        empty = await client.post(
            f"{BASE}/threshold", content=b"", headers={"Content-Type": "application/json"}
        )
        assert_problem(empty, 422, "empty")
        text = await client.post(
            f"{BASE}/threshold", content=b"hello", headers={"Content-Type": "text/plain"}
        )
        assert_problem(text, 415, "text/plain")
        form = await client.post(f"{BASE}/threshold", files={"method": (None, "otsu")})
        assert_problem(form, 422, "no field 'image'")

    async def test_one_pixel_image_is_a_flat_image_not_a_crash(self, client: httpx.AsyncClient) -> None:
        one = png(np.array([[5]], np.uint8))
        assert_problem(await client.post(f"{BASE}/threshold", **upload(one)), 422, "cannot be thresholded")
        for route in ("superpixels", "objects", "vignetting", "convert"):
            response = await client.post(f"{BASE}/{route}", **upload(one, method="fixed", value=1))
            assert response.status_code in (200, 422), (route, response.text)
            if response.status_code == 422:
                assert response.headers["content-type"] == PROBLEM_JSON

    @pytest.mark.parametrize(
        ("image", "mode"), [(_sixteen_bit_png(), "I;16"), (_cmyk_jpeg(), "CMYK"), (_palette_gif(), "P")]
    )
    async def test_16_bit_cmyk_and_palette_images_are_served(
        self, client: httpx.AsyncClient, image: bytes, mode: str
    ) -> None:
        for route in ("threshold", "superpixels", "objects", "background", "vignetting", "convert"):
            response = await client.post(f"{BASE}/{route}", **upload(image))
            assert response.status_code == 200, (route, response.text)
        body = (await client.post(f"{BASE}/convert", **upload(image, output="json"))).json()
        assert body["source_mode"] == mode

    @pytest.mark.parametrize(
        ("route", "fields", "words"),
        [
            ("superpixels", {"n_segments": 0}, ("n_segments=0",)),
            ("superpixels", {"n_segments": 10**9}, ("n_segments=1000000000",)),
            ("superpixels", {"compactness": -1}, ("compactness=-1",)),
            ("superpixels", {"sigma": 1e300}, ("sigma=",)),
            ("threshold", {"opening_radius": -1}, ("opening_radius=-1",)),
            ("threshold", {"closing_radius": 100000}, ("closing_radius=100000",)),
            ("threshold", {"method": "magic"}, ("method='magic'",)),
            ("threshold", {"method": "fixed"}, ("needs a value",)),
            ("threshold", {"min_area": 50, "max_area": 10}, ("max_area=10 is below min_area=50",)),
            ("threshold", {"quantile": 1.5}, ("quantile=1.5",)),
            ("threshold", {"bogus": 1}, ("bogus is not a parameter",)),
            ("objects", {"padding": -3}, ("padding=-3",)),
            ("objects", {"fade_background": 2}, ("fade_background=2",)),
            ("background", {"iterations": 0}, ("iterations=0",)),
            ("vignetting", {"sigma": 0}, ("sigma=0",)),
            ("convert", {"lossless": 1}, ("lossless is not a parameter",)),
            ("threshold", {"output": ["png", "gif"]}, ("output=",)),
        ],
    )
    async def test_out_of_range_parameters_are_422_naming_the_value(
        self, client: httpx.AsyncClient, route: str, fields: dict[str, Any], words: tuple[str, ...]
    ) -> None:
        body = {"image": base64.b64encode(png(blobs())).decode(), **fields}
        response = await client.post(
            f"{BASE}/{route}", content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 422, *words)

    async def test_mask_on_a_route_without_one_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{BASE}/threshold", files={"image": ("a.png", png(blobs())), "mask": ("m.png", png(blobs()))}
        )
        assert_problem(response, 422, "mask is not a parameter")


class TestOpenApi:
    async def test_every_route_is_documented_with_both_request_bodies(
        self, client: httpx.AsyncClient
    ) -> None:
        document = (await client.get("/openapi.json")).json()
        for route in (
            "threshold",
            "superpixels",
            "superpixels/selection",
            "objects",
            "background",
            "vignetting",
            "convert",
        ):
            operation = document["paths"][f"{BASE}/{route}"]["post"]
            content = operation["requestBody"]["content"]
            assert {"application/json", "multipart/form-data"} <= set(content)
            assert "application/json" in operation["responses"]["200"]["content"]
