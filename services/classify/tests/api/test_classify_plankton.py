from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION
from specimen_kit.problems import PROBLEM_JSON

PLANKTON = "/api/v1/classify/plankton"
AuthHeaders = Callable[..., dict[str, str]]
Client = AbstractAsyncContextManager[httpx.AsyncClient]


@pytest.fixture
def client_app(serving_client: Callable[..., Client], model_dir: Path) -> Client:
    return serving_client(model_dir=model_dir)


def _frame_png(seed: int = 4, per_category: int = 3) -> tuple[bytes, Any]:
    frame = plankton_frame(seed, dict.fromkeys(CATEGORIES, per_category), 384, 384)
    ok, data = cv2.imencode(".png", frame.image)
    assert ok
    return bytes(data.tobytes()), frame


class TestClassifyPlanktonFrame:
    async def test_every_object_of_a_frame_answers_bbox_measurements_category_and_scores(
        self, client_app: Client, auth: AuthHeaders
    ) -> None:
        data, frame = _frame_png()
        async with client_app as client:
            response = await client.post(PLANKTON, files={"image": ("frame.png", data)}, headers=auth())

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"]["name"] == "plankton"
        assert body["model"]["feature_set_version"] == FEATURE_SET_VERSION
        assert body["count"] == len(body["objects"]) == sum(body["counts"].values())
        assert abs(body["count"] - len(frame.objects)) <= 2
        for obj in body["objects"]:
            assert list(obj["measurements"]) == list(FEATURE_NAMES)
            assert set(obj["scores"]) == set(body["model"]["classes"])
            assert sum(obj["scores"].values()) == pytest.approx(1.0, abs=1e-5)
            assert obj["probability"] == pytest.approx(max(obj["scores"].values()))
            if obj["category"] != "unclear":
                assert obj["scores"][obj["category"]] == obj["probability"]
            assert obj["bbox"]["max_row"] > obj["bbox"]["min_row"]

    async def test_segmentation_parameters_change_what_is_found_and_bad_ones_are_named(
        self, client_app: Client, auth: AuthHeaders
    ) -> None:
        data, _ = _frame_png()
        async with client_app as client:
            default = await client.post(PLANKTON, files={"image": ("f.png", data)}, headers=auth())
            big_only = await client.post(PLANKTON, files={"image": ("f.png", data)},
                                         data={"min_area": "400"}, headers=auth())
            bad = await client.post(PLANKTON, files={"image": ("f.png", data)},
                                    data={"min_area": "-1", "colour": "red"}, headers=auth())

        assert 0 < big_only.json()["count"] < default.json()["count"]
        assert bad.status_code == 422
        assert bad.headers["content-type"] == PROBLEM_JSON
        assert "min_area" in bad.json()["detail"] and "colour" in bad.json()["detail"]

    async def test_a_frame_of_background_only_finds_at_most_one_spurious_object(
        self, client_app: Client, auth: AuthHeaders
    ) -> None:
        empty = plankton_frame(9, dict.fromkeys(CATEGORIES, 0), 384, 384)
        _, data = cv2.imencode(".png", empty.image)
        async with client_app as client:
            response = await client.post(PLANKTON, files={"image": ("f.png", data.tobytes())},
                                         headers=auth())

        # Otsu always splits a histogram in two: on pure background, noise can leave one speck
        # above min_area (a known limit of a global threshold; see the closing note of issue 4).
        assert response.status_code == 200, response.text
        assert response.json()["count"] <= 1

    async def test_a_flat_frame_is_a_flat_image_problem(self, client_app: Client, auth: AuthHeaders) -> None:
        _, data = cv2.imencode(".png", np.full((64, 64), 230, np.uint8))
        async with client_app as client:
            response = await client.post(PLANKTON, files={"image": ("f.png", data.tobytes())},
                                         headers=auth())

        assert response.status_code == 422
        assert response.json()["title"] == "Flat image"

    async def test_a_non_image_is_a_problem(self, client_app: Client, auth: AuthHeaders) -> None:
        async with client_app as client:
            response = await client.post(PLANKTON, files={"image": ("f.png", b"GIF89a broken")},
                                         headers=auth())

        assert response.status_code in (415, 422)
        assert response.headers["content-type"] == PROBLEM_JSON


class TestClassifyPlanktonFeatures:
    async def test_rows_from_segment_objects_are_classified_like_the_frame(
        self, client_app: Client, auth: AuthHeaders
    ) -> None:
        data, _ = _frame_png()
        async with client_app as client:
            frame = (await client.post(PLANKTON, files={"image": ("f.png", data)}, headers=auth())).json()
            rows = [obj["measurements"] for obj in frame["objects"]]
            response = await client.post(PLANKTON + "/features", headers=auth(), json={
                "feature_set_version": FEATURE_SET_VERSION, "feature_names": list(FEATURE_NAMES),
                "rows": rows})

        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["category"] for r in results] == [o["category"] for o in frame["objects"]]
        for result, obj in zip(results, frame["objects"], strict=True):
            assert result["scores"] == pytest.approx(obj["scores"])

    @pytest.mark.parametrize(
        ("change", "named"),
        [
            ({"feature_set_version": "0"}, "feature_set_version"),
            ({"feature_names": list(reversed(FEATURE_NAMES))}, "order"),
            ({"feature_names": list(FEATURE_NAMES)[:-1]}, FEATURE_NAMES[-1]),
        ],
    )
    async def test_a_feature_contract_mismatch_is_refused_naming_what_differs(
        self, client_app: Client, auth: AuthHeaders, change: dict[str, Any], named: str
    ) -> None:
        body = {"feature_set_version": FEATURE_SET_VERSION, "feature_names": list(FEATURE_NAMES),
                "rows": [[1.0] * len(FEATURE_NAMES)], **change}
        async with client_app as client:
            response = await client.post(PLANKTON + "/features", json=body, headers=auth())

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert named in response.json()["detail"]

    async def test_a_row_with_a_missing_value_names_the_row_and_feature(
        self, client_app: Client, auth: AuthHeaders
    ) -> None:
        row = dict.fromkeys(FEATURE_NAMES, 1.0) | {FEATURE_NAMES[2]: None}
        async with client_app as client:
            response = await client.post(PLANKTON + "/features", headers=auth(), json={
                "feature_set_version": FEATURE_SET_VERSION, "feature_names": list(FEATURE_NAMES),
                "rows": [dict.fromkeys(FEATURE_NAMES, 1.0), row]})

        assert response.status_code == 422
        assert f"row 1: {FEATURE_NAMES[2]}" in response.json()["detail"]

    async def test_more_rows_than_the_limit_are_refused(
        self, serving_client: Callable[..., Client], model_dir: Path, auth: AuthHeaders
    ) -> None:
        row = [1.0] * len(FEATURE_NAMES)
        async with serving_client(model_dir=model_dir, plankton_rows_max=1) as client:
            response = await client.post(PLANKTON + "/features", headers=auth(), json={
                "feature_set_version": FEATURE_SET_VERSION, "feature_names": list(FEATURE_NAMES),
                "rows": [row, row]})

        assert response.status_code == 422
        assert "send at most 1" in response.json()["detail"]
