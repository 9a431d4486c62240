"""``POST /images/search`` on the real app, SQLite and PostgreSQL: scoping, selections, the
descriptors written as pictures are stored, the in-process index against exact search, the
backfill command, and the problems of bad queries."""

from __future__ import annotations

import base64
import io
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, delete, func, select
from sqlalchemy.orm import Session

from specimen_imaging.scenes import scene
from specimen_kit.problems import PROBLEM_JSON
from specimen_segment.adapters.models import ImageDescriptorRow
from specimen_segment.cli import main
from specimen_segment.domain.superpixels import SlicParams, slic_labels

SEARCH = "/api/v1/images/search"
IMAGES = "/api/v1/images"


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def descriptor_rows(database_url: str, **where: Any) -> int:
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            query = select(func.count(ImageDescriptorRow.id))
            for name, value in where.items():
                query = query.where(getattr(ImageDescriptorRow, name) == value)
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


async def search(api: Any, expect: int = 200, headers: dict[str, str] | None = None,
                 **kwargs: Any) -> dict[str, Any]:
    response = await api.http.post(SEARCH, headers=headers or api.headers, **kwargs)
    assert response.status_code == expect, response.text
    if expect >= 400:
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    return body


class TestScoping:
    async def test_another_users_identical_image_never_appears(self, api: Any, auth: Any) -> None:
        picture = png(scene("red-discs", "sand", 1).pixels)
        other = auth(sub="8")
        theirs = await api.upload(picture, name="theirs.png", headers=other)
        mine = await api.upload(png(scene("blue-stripes", "weave", 2).pixels), name="mine.png")
        answer = await search(api, files={"image": ("q.png", picture)})
        assert [item["image_id"] for item in answer["items"]] == [mine["id"]]
        assert answer["items"][0]["similarity"] < 0.999
        # The owner of the identical copy finds it, first and (nearly) identical.
        found = await search(api, headers=other, files={"image": ("q.png", picture)})
        assert found["items"][0]["image_id"] == theirs["id"]
        assert found["items"][0]["similarity"] > 0.999

    async def test_an_admin_searches_their_own_library_too(self, api: Any, auth: Any) -> None:
        picture = png(scene("yellow-star", "gradient", 3).pixels)
        await api.upload(picture, name="technician's.png")
        answer = await search(api, headers=auth(sub="99", role="admin"),
                              files={"image": ("q.png", picture)})
        assert answer["items"] == []

    async def test_another_users_image_id_is_a_404(self, api: Any, auth: Any) -> None:
        theirs = await api.upload(png(scene("red-discs", "sand", 1).pixels), headers=auth(sub="8"))
        problem = await search(api, expect=404, json={"image_id": theirs["id"]})
        assert problem["type"].endswith("/image-not-found")


class TestAnswer:
    async def test_items_carry_links_and_metadata(self, api: Any) -> None:
        stored = await api.upload(png(scene("purple-rings", "noise-dark", 4).pixels), name="rings.png")
        answer = await search(api, files={"image": ("q.png", png(scene("purple-rings", "sand", 5).pixels))},
                              data={"limit": "3"})
        assert answer["descriptor_set_version"] == "1"
        item = answer["items"][0]
        url = f"{IMAGES}/{stored['id']}"
        assert item == {
            "kind": "library", "image_id": stored["id"], "segmentation_id": None, "name": "rings.png",
            "similarity": item["similarity"], "url": url, "content_url": f"{url}/content",
            "thumbnail_url": f"{url}/thumbnail.png", "media_type": "image/png", "width": 128,
            "height": 128, "created_at": stored["created_at"]}
        assert -1.0 <= item["similarity"] <= 1.0
        thumbnail = await api.http.get(f"{item['thumbnail_url']}?size=32", headers=api.headers)
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(thumbnail.content)).size == (32, 32)

    async def test_limit_and_order(self, api: Any) -> None:
        for seed in range(4):
            await api.upload(png(scene("cyan-triangle", "plain-light", seed).pixels), name=f"{seed}.png")
        query = _b64(scene("cyan-triangle", "weave", 9).pixels)
        answer = await search(api, json={"limit": 2, "image": query})
        scores = [item["similarity"] for item in answer["items"]]
        assert len(scores) == 2 and scores == sorted(scores, reverse=True)

    async def test_a_query_by_library_image_leaves_that_image_out(self, api: Any) -> None:
        query = await api.upload(png(scene("brown-blob", "sand", 1).pixels), name="query.png")
        other = await api.upload(png(scene("brown-blob", "sand", 2).pixels), name="other.png")
        answer = await search(api, json={"image_id": query["id"]})
        assert [item["image_id"] for item in answer["items"]] == [other["id"]]


def _b64(pixels: np.ndarray) -> str:
    return base64.b64encode(png(pixels)).decode("ascii")


class TestSelection:
    """The done-when of issue 14: select an object's superpixels, get the images with it first."""

    SLIC = {"n_segments": 150, "compactness": 10.0}

    async def _library(self, api: Any) -> tuple[dict[str, Any], np.ndarray, set[str], set[str]]:
        query_scene = scene("green-checker", "gradient", 21)
        query = await api.upload(png(query_scene.pixels), name="query.png")
        same_object = set()
        for i, background in enumerate(("sand", "noise-dark", "plain-light")):
            stored = await api.upload(png(scene("green-checker", background, 30 + i).pixels),
                                      name=f"checker-on-{background}.png")
            same_object.add(stored["id"])
        same_background = set()
        for i, kind in enumerate(("red-discs", "yellow-star", "purple-rings")):
            stored = await api.upload(png(scene(kind, "gradient", 21 + 10 * (i + 1)).pixels),
                                      name=f"{kind}-on-gradient.png")
            same_background.add(stored["id"])
        return query, query_scene.mask, same_object, same_background

    async def test_the_objects_superpixels_rank_images_with_that_object_first(self, api: Any) -> None:
        query, mask, same_object, same_background = await self._library(api)
        pixels = scene("green-checker", "gradient", 21).pixels
        labels = slic_labels(pixels, SlicParams(**self.SLIC))
        ids = [int(i) for i in np.unique(labels) if mask[labels == i].mean() > 0.5]
        answer = await search(api, json={"image_id": query["id"], "ids": ids, **self.SLIC, "limit": 3})
        assert {item["image_id"] for item in answer["items"]} == same_object
        # The whole image (mostly background) ranks the images that share the background higher.
        whole = await search(api, json={"image_id": query["id"], "limit": 3})
        assert len({item["image_id"] for item in whole["items"]} & same_background) >= 2

    async def test_a_mask_selects_the_region_too(self, api: Any) -> None:
        query, mask, same_object, _ = await self._library(api)
        answer = await search(api, data={"image_id": query["id"], "limit": "3"},
                              files={"mask": ("m.png", png(mask.astype(np.uint8) * 255))})
        assert {item["image_id"] for item in answer["items"]} == same_object

    async def test_ids_as_a_comma_separated_string(self, api: Any) -> None:
        query, *_ = await self._library(api)
        answer = await search(api, json={"image_id": query["id"], "ids": "0,1,2", "n_segments": "150"})
        assert len(answer["items"]) == 6


class TestDescribedAsStored:
    async def test_picture_results_are_described_masks_and_labels_are_not(
            self, api: Any, database_url: str) -> None:
        stored = await api.upload(png(scene("yellow-star", "plain-light", 5).pixels), name="star.png")
        segmentations = f"{IMAGES}/{stored['id']}/segmentations"
        kept = {}
        for name, body in (("cutout", {"operation": "threshold", "params": {"result": "cutout"}}),
                           ("mask", {"operation": "threshold", "params": {}}),
                           ("labels", {"operation": "superpixels", "params": {}})):
            response = await api.http.post(segmentations, headers=api.headers, json=body)
            assert response.status_code == 201, response.text
            kept[name] = uuid.UUID(response.json()["id"])
        assert descriptor_rows(database_url, segmentation_id=kept["cutout"]) >= 1
        assert descriptor_rows(database_url, segmentation_id=kept["mask"]) == 0
        assert descriptor_rows(database_url, segmentation_id=kept["labels"]) == 0
        answer = await search(api, files={"image": ("q.png", png(scene("yellow-star", "sand", 6).pixels))})
        assert {(item["image_id"], item["segmentation_id"]) for item in answer["items"]} == {
            (stored["id"], None), (stored["id"], str(kept["cutout"]))}
        result = next(item for item in answer["items"] if item["segmentation_id"])
        assert result["url"] == f"{segmentations}/{kept['cutout']}"
        thumbnail = await api.http.get(result["thumbnail_url"], headers=api.headers)
        assert thumbnail.status_code == 200

    async def test_deleting_takes_the_descriptors_and_the_index_follows(
            self, api: Any, database_url: str) -> None:
        picture = png(scene("blue-stripes", "sand", 7).pixels)
        first = await api.upload(picture, name="first.png")
        second = await api.upload(picture, name="second.png")
        before = await search(api, files={"image": ("q.png", picture)})
        assert {item["image_id"] for item in before["items"]} == {first["id"], second["id"]}
        assert (await api.http.delete(f"{IMAGES}/{first['id']}", headers=api.headers)).status_code == 204
        assert descriptor_rows(database_url, image_id=uuid.UUID(first["id"])) == 0
        after = await search(api, files={"image": ("q.png", picture)})
        assert [item["image_id"] for item in after["items"]] == [second["id"]]
        # A new picture after the cached search is seen by the next one.
        third = await api.upload(picture, name="third.png")
        again = await search(api, files={"image": ("q.png", picture)})
        assert {item["image_id"] for item in again["items"]} == {second["id"], third["id"]}


class TestBackfill:
    async def test_the_command_describes_what_has_no_descriptors(
            self, api: Any, database_url: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        picture = png(scene("gray-speckle", "weave", 8).pixels)
        stored = await api.upload(picture, name="speckle.png")
        response = await api.http.post(f"{IMAGES}/{stored['id']}/segmentations", headers=api.headers,
                                     json={"operation": "vignetting", "params": {}})
        assert response.status_code == 201, response.text
        rows = descriptor_rows(database_url)
        engine = create_engine(database_url)
        with Session(engine) as session, session.begin():
            session.execute(delete(ImageDescriptorRow))  # as before issue 14
        engine.dispose()
        assert (await search(api, files={"image": ("q.png", picture)}))["items"] == []

        monkeypatch.setenv("SPECIMEN_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("SPECIMEN_SEGMENT_DATABASE_URL", database_url)
        assert main(["backfill-descriptors"]) == 0
        assert descriptor_rows(database_url) == rows
        assert main(["backfill-descriptors", "--prune"]) == 0  # idempotent
        assert descriptor_rows(database_url) == rows
        answer = await search(api, files={"image": ("q.png", picture)})
        assert {item["segmentation_id"] is None for item in answer["items"]} == {True, False}


class TestProblems:
    @pytest.mark.parametrize(("kwargs", "needle"), [
        ({"json": {}}, "nothing to search by"),
        ({"json": {"limit": 5}}, "nothing to search by"),
        ({"json": {"ids": [1]}}, "nothing to search by"),
        ({"json": {"limit": 0, "image_id": str(uuid.uuid4())}}, "limit"),
        ({"json": {"limit": 101, "image_id": str(uuid.uuid4())}}, "limit=101 is out of range"),
        ({"json": {"image_id": "not-a-uuid"}}, "image_id"),
        ({"json": {"image_id": str(uuid.uuid4()), "ids": []}}, "ids"),
        ({"json": {"image_id": str(uuid.uuid4()), "n_segments": 50}}, "go with ids"),
        ({"json": {"image_id": str(uuid.uuid4()), "colour": "red"}}, "colour is not a parameter"),
    ])
    async def test_bad_queries_are_422(self, api: Any, kwargs: dict[str, Any], needle: str) -> None:
        problem = await search(api, expect=422, **kwargs)
        assert needle in problem["detail"]

    async def test_an_image_and_an_image_id_together_are_a_422(self, api: Any) -> None:
        stored = await api.upload(png(scene("red-discs", "sand", 1).pixels))
        problem = await search(api, expect=422, data={"image_id": stored["id"]},
                               files={"image": ("q.png", png(scene("red-discs", "sand", 2).pixels))})
        assert "not both" in problem["detail"]

    async def test_an_unknown_image_id_is_a_404(self, api: Any) -> None:
        await search(api, expect=404, json={"image_id": str(uuid.uuid4())})

    async def test_unknown_superpixel_ids_are_a_422_naming_them(self, api: Any) -> None:
        stored = await api.upload(png(scene("red-discs", "sand", 1).pixels))
        problem = await search(api, expect=422, json={"image_id": stored["id"], "ids": [3, 5000],
                                                      "n_segments": 20})
        assert "unknown superpixel ids: 5000" in problem["detail"]

    async def test_ids_and_a_mask_together_are_a_422(self, api: Any) -> None:
        stored = await api.upload(png(scene("red-discs", "sand", 1).pixels))
        problem = await search(api, expect=422, data={"image_id": stored["id"], "ids": "1"},
                               files={"mask": ("m.png", png(np.full((128, 128), 255, np.uint8)))})
        assert "not both" in problem["detail"]

    async def test_a_mask_of_another_size_is_a_422(self, api: Any) -> None:
        stored = await api.upload(png(scene("red-discs", "sand", 1).pixels))
        problem = await search(api, expect=422, data={"image_id": stored["id"]},
                               files={"mask": ("m.png", png(np.full((64, 128), 255, np.uint8)))})
        assert "must match the image's 128x128" in problem["detail"]

    async def test_an_empty_mask_is_a_422(self, api: Any) -> None:
        problem = await search(api, expect=422, files={
            "image": ("q.png", png(scene("red-discs", "sand", 1).pixels)),
            "mask": ("m.png", png(np.zeros((128, 128), np.uint8)))})
        assert "the selection is empty" in problem["detail"]

    async def test_an_unreadable_mask_is_named(self, api: Any) -> None:
        problem = await search(api, expect=422, files={
            "image": ("q.png", png(scene("red-discs", "sand", 1).pixels)),
            "mask": ("m.png", b"not an image")})
        assert problem["detail"].startswith("mask: ")

    async def test_no_token_is_a_401(self, api: Any) -> None:
        response = await api.http.post(SEARCH, json={"image_id": str(uuid.uuid4())})
        assert response.status_code == 401
