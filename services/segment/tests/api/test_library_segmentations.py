from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from specimen_kit.problems import PROBLEM_JSON
from specimen_segment import operations

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
        assert set(kept) == {"id", "image_id", "operation", "params", "summary", "output",
                             "media_type", "bytes", "created_at", "url", "content_url"}
        assert kept["output"] == "png"
        assert kept["url"] == f"{_segmentations(image)}/{kept['id']}"
        assert kept["content_url"] == f"{kept['url']}/content"
        assert (kept["image_id"], kept["operation"], kept["params"], kept["media_type"]) == (
            image["id"], "threshold", {"method": "otsu"}, "image/png")
        assert kept["summary"]["object_count"] == 2

    @pytest.mark.parametrize(("operation", "params"), [
        ("superpixels", {}), ("objects", {}), ("vignetting", {}), ("background", {}),
        ("selection", {"n_segments": 9, "ids": [0, 1]}), ("convert", {})])
    async def test_every_operation_keeps_a_picture(self, api: Any, image: dict[str, Any],
                                                   operation: str, params: dict[str, Any]) -> None:
        response = await api.http.post(_segmentations(image), headers=api.headers,
                                       json={"operation": operation, "params": params})
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


class TestOutput:
    @pytest.mark.parametrize("output", ["jpeg", "webp", "tiff"])
    async def test_kept_in_the_output_asked_for(self, api: Any, image: dict[str, Any],
                                                output: str) -> None:
        kept = (await api.http.post(_segmentations(image), headers=api.headers, json={
            "operation": "threshold", "params": {"result": "overlay"}, "output": output})).json()
        assert (kept["output"], kept["media_type"]) == (output, f"image/{output}")
        content = await api.http.get(kept["content_url"], headers=api.headers)
        assert content.headers["content-type"] == f"image/{output}"
        assert len(content.content) == kept["bytes"]
        assert Image.open(io.BytesIO(content.content)).format == output.upper()

    async def test_convert_keeps_its_quality(self, api: Any, image: dict[str, Any]) -> None:
        sizes = []
        for quality in (5, 95):
            kept = (await api.http.post(_segmentations(image), headers=api.headers, json={
                "operation": "convert", "params": {"quality": quality}, "output": "jpeg"})).json()
            assert kept["params"] == {"quality": quality}
            sizes.append(kept["bytes"])
        assert sizes[0] < sizes[1]

    async def test_labels_cannot_be_kept_lossy(self, api: Any, image: dict[str, Any]) -> None:
        response = await api.http.post(_segmentations(image), headers=api.headers, json={
            "operation": "superpixels", "output": "jpeg"})
        assert response.status_code == 422
        assert "png, tiff" in response.json()["detail"]

    async def test_content_converts_on_the_way_out(self, api: Any, image: dict[str, Any]) -> None:
        kept = (await api.http.post(_segmentations(image), headers=api.headers,
                                    json={"operation": "threshold"})).json()
        webp = await api.http.get(kept["content_url"], params={"output": "webp"},
                                  headers=api.headers)
        bmp = await api.http.get(kept["content_url"], headers={**api.headers,
                                                               "Accept": "image/bmp"})
        assert webp.headers["content-type"] == "image/webp"
        assert bmp.headers["content-type"] == "image/bmp"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(webp.content)).convert("L")),
                              np.asarray(Image.open(io.BytesIO(bmp.content)).convert("L")))
        assert webp.headers["content-disposition"].startswith(
            'attachment; filename="squares-threshold.webp"')

    async def test_content_as_json_is_the_picture_with_its_facts(self, api: Any,
                                                                 image: dict[str, Any]) -> None:
        kept = (await api.http.post(_segmentations(image), headers=api.headers,
                                    json={"operation": "threshold"})).json()
        picture = await api.http.get(kept["content_url"], headers=api.headers)
        body = (await api.http.get(kept["content_url"], params={"output": "json"},
                                   headers=api.headers)).json()
        assert body["image"] == {"media_type": "image/png", "width": 64, "height": 64,
                                 "data": base64.b64encode(picture.content).decode()}
        assert body["object_count"] == 2 == kept["summary"]["object_count"]

    async def test_labels_are_not_served_lossy(self, api: Any, image: dict[str, Any]) -> None:
        kept = (await api.http.post(_segmentations(image), headers=api.headers,
                                    json={"operation": "superpixels", "output": "tiff"})).json()
        jpeg = await api.http.get(kept["content_url"], params={"output": "jpeg"},
                                  headers=api.headers)
        png = await api.http.get(kept["content_url"], params={"output": "png"},
                                 headers=api.headers)
        assert jpeg.status_code == 422
        assert "tiff, png" in jpeg.json()["detail"]
        assert np.asarray(Image.open(io.BytesIO(png.content))).dtype == np.uint16


class TestQuota:
    # Issue 10: a full library learnt it only after the algorithm had run.
    async def test_a_full_library_is_refused_before_the_operation_runs(
            self, start_app: Any, auth: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        ran: list[str] = []
        real = operations.run_operation

        def counting(name: str, *args: Any) -> Any:
            ran.append(name)
            return real(name, *args)

        monkeypatch.setattr(operations, "run_operation", counting)
        original = _two_squares()
        async with start_app(quota_bytes=len(original)) as http:
            image = (await http.post(IMAGES, headers=auth(),
                                     files={"image": ("a.png", original)})).json()
            response = await http.post(_segmentations(image), headers=auth(),
                                       json={"operation": "background"})
        assert response.status_code == 409
        assert response.json()["quota"] == "bytes"
        assert ran == []

    async def test_an_upload_that_cannot_fit_is_refused_before_decoding(
            self, start_app: Any, auth: Any) -> None:
        async with start_app(quota_bytes=10) as http:
            response = await http.post(IMAGES, headers=auth(),
                                       files={"image": ("a.png", b"not even an image" * 2)})
        assert response.status_code == 409


class TestDelete:
    async def test_delete_one_result_removes_its_row_and_blob(self, api: Any,
                                                              image: dict[str, Any],
                                                              tmp_path: Path) -> None:
        made = [(await api.http.post(_segmentations(image), headers=api.headers,
                                     json={"operation": "threshold"})).json() for _ in range(2)]
        assert len(list((tmp_path / "segment-blobs").glob("??/*"))) == 3
        response = await api.http.delete(made[0]["url"], headers=api.headers)
        assert response.status_code == 204
        assert len(list((tmp_path / "segment-blobs").glob("??/*"))) == 2
        assert (await api.http.get(made[0]["url"], headers=api.headers)).status_code == 404
        listed = (await api.http.get(_segmentations(image), headers=api.headers)).json()
        assert [item["id"] for item in listed["items"]] == [made[1]["id"]]
        usage = (await api.http.get(f"{IMAGES}/usage", headers=api.headers)).json()
        assert usage["bytes"]["used"] == image["bytes"] + made[1]["bytes"]
        again = await api.http.delete(made[0]["url"], headers=api.headers)
        assert again.status_code == 404
        assert again.json()["type"].endswith("segmentation-not-found")

    async def test_someone_else_gets_404_and_nothing_is_deleted(
            self, api: Any, auth: Any, image: dict[str, Any]) -> None:
        kept = (await api.http.post(_segmentations(image), headers=api.headers,
                                    json={"operation": "threshold"})).json()
        for headers in (auth(sub="8"), auth(sub="1", role="admin")):
            response = await api.http.delete(kept["url"], headers=headers)
            assert response.status_code == 404
            assert response.headers["content-type"] == PROBLEM_JSON
        assert (await api.http.get(kept["url"], headers=api.headers)).status_code == 200


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
        # The list summarizes: no facts (an objects result's would be every object).
        assert all("summary" not in item for item in page["items"])
        assert page["items"][0]["content_url"] == made[2]["content_url"]
        assert [item["id"] for item in page["items"]] == [made[2]["id"], made[1]["id"]]

        one = await api.http.get(made[0]["url"], headers=api.headers)
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
