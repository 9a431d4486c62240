from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from specimen_kit.problems import PROBLEM_JSON

IMAGES = "/api/v1/images"


def _two_squares() -> bytes:
    """64x64 gray: black background, two bright squares (two objects)."""
    pixels = np.zeros((64, 64), np.uint8)
    pixels[8:24, 8:24] = 220
    pixels[36:56, 30:50] = 200
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def image(api: Any) -> dict[str, Any]:
    uploaded: dict[str, Any] = await api.upload(_two_squares(), name="squares.png")
    return uploaded


def _segmentations(image: dict[str, Any]) -> str:
    return f"{IMAGES}/{image['id']}/segmentations"


class TestCreate:
    async def test_threshold_is_kept_with_its_summary(self, api: Any,
                                                      image: dict[str, Any]) -> None:
        response = await api.http.post(_segmentations(image), headers=api.headers, json={
            "operation": "threshold", "params": {"method": "otsu"}})
        assert response.status_code == 201, response.text
        kept = response.json()
        assert set(kept) == {"id", "image_id", "operation", "params", "summary", "media_type",
                             "bytes", "created_at"}
        assert (kept["image_id"], kept["operation"], kept["params"], kept["media_type"]) == (
            image["id"], "threshold", {"method": "otsu"}, "image/png")
        assert kept["summary"]["object_count"] == 2

    @pytest.mark.parametrize("operation", ["superpixels", "objects", "vignetting",
                                           "background"])
    async def test_every_operation_keeps_a_picture(self, api: Any, image: dict[str, Any],
                                                   operation: str) -> None:
        response = await api.http.post(_segmentations(image), headers=api.headers,
                                       json={"operation": operation})
        assert response.status_code == 201, response.text
        kept = response.json()
        content = await api.http.get(f"{_segmentations(image)}/{kept['id']}/content",
                                     headers=api.headers)
        assert content.status_code == 200
        assert content.headers["content-type"] == kept["media_type"]
        assert Image.open(io.BytesIO(content.content)).size == (64, 64)

    async def test_bad_params_are_a_422_and_keep_nothing(self, api: Any, image: dict[str, Any],
                                                         tmp_path: Path) -> None:
        response = await api.http.post(_segmentations(image), headers=api.headers, json={
            "operation": "superpixels", "params": {"n_segments": 0}})
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "n_segments" in response.json()["detail"]
        listed = (await api.http.get(_segmentations(image), headers=api.headers)).json()
        assert listed["total"] == 0
        assert len(list((tmp_path / "segment-blobs").glob("??/*"))) == 1  # only the original

    async def test_unknown_operation_is_a_422(self, api: Any, image: dict[str, Any]) -> None:
        response = await api.http.post(_segmentations(image), headers=api.headers,
                                       json={"operation": "watershed"})
        assert response.status_code == 422

    async def test_flat_image_cannot_be_thresholded(self, api: Any, make_image: Any) -> None:
        flat = io.BytesIO()
        Image.fromarray(np.full((8, 8), 7, np.uint8)).save(flat, format="PNG")
        image = await api.upload(flat.getvalue())
        response = await api.http.post(_segmentations(image), headers=api.headers,
                                       json={"operation": "threshold"})
        assert response.status_code == 422
        assert response.json()["type"].endswith("flat-image")

    async def test_results_count_towards_the_byte_quota(self, start_app: Any, auth: Any) -> None:
        original = _two_squares()
        async with start_app(quota_bytes=len(original) + 10) as http:
            image = (await http.post(IMAGES, headers=auth(),
                                     files={"file": ("a.png", original)})).json()
            response = await http.post(_segmentations(image), headers=auth(),
                                       json={"operation": "vignetting"})
        assert response.status_code == 409
        assert response.json()["quota"] == "bytes"
        assert response.json()["used"] == len(original)


class TestRead:
    async def test_list_newest_first_fetch_and_download(self, api: Any,
                                                        image: dict[str, Any]) -> None:
        made = []
        for params in [{"result": "mask"}, {"result": "overlay"}, {"result": "cutout"}]:
            response = await api.http.post(_segmentations(image), headers=api.headers,
                                           json={"operation": "threshold", "params": params})
            assert response.status_code == 201, response.text
            made.append(response.json())
        page = (await api.http.get(_segmentations(image), params={"limit": 2},
                                   headers=api.headers)).json()
        assert page["total"] == 3
        assert [item["id"] for item in page["items"]] == [made[2]["id"], made[1]["id"]]

        one = await api.http.get(f"{_segmentations(image)}/{made[0]['id']}", headers=api.headers)
        assert one.json() == made[0]
        content = await api.http.get(f"{_segmentations(image)}/{made[0]['id']}/content",
                                     headers=api.headers)
        assert content.headers["content-disposition"].startswith(
            'attachment; filename="squares-threshold.png"')
        mask = np.asarray(Image.open(io.BytesIO(content.content)))
        assert set(np.unique(mask).tolist()) == {0, 255}
        assert int((mask == 255).sum()) == 16 * 16 + 20 * 20

    async def test_segmentation_of_another_image_is_404(self, api: Any,
                                                        image: dict[str, Any]) -> None:
        other = await api.upload()
        kept = (await api.http.post(_segmentations(image), headers=api.headers,
                                    json={"operation": "threshold"})).json()
        response = await api.http.get(f"{_segmentations(other)}/{kept['id']}",
                                      headers=api.headers)
        assert response.status_code == 404
        assert response.json()["type"].endswith("segmentation-not-found")

    async def test_other_users_get_404(self, api: Any, auth: Any, image: dict[str, Any]) -> None:
        kept = (await api.http.post(_segmentations(image), headers=api.headers,
                                    json={"operation": "threshold"})).json()
        for headers in (auth(sub="8"), auth(sub="1", role="admin")):
            one = await api.http.get(f"{_segmentations(image)}/{kept['id']}", headers=headers)
            content = await api.http.get(f"{_segmentations(image)}/{kept['id']}/content",
                                         headers=headers)
            assert (one.status_code, content.status_code) == (404, 404)

    async def test_deleting_the_image_deletes_its_results(self, api: Any, image: dict[str, Any],
                                                          tmp_path: Path) -> None:
        for operation in ("threshold", "superpixels"):
            await api.http.post(_segmentations(image), headers=api.headers,
                                json={"operation": operation})
        assert len(list((tmp_path / "segment-blobs").glob("??/*"))) == 3
        assert (await api.http.delete(f"{IMAGES}/{image['id']}",
                                      headers=api.headers)).status_code == 204
        assert list((tmp_path / "segment-blobs").glob("??/*")) == []
        listed = await api.http.get(_segmentations(image), headers=api.headers)
        assert listed.status_code == 404
