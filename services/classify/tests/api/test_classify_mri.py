from __future__ import annotations

import base64
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.mri_runtime import LiteRtMriModel
from specimen_classify.domain.predictions import MRI_MODEL, ModelVersion
from specimen_classify.domain.preprocessing import brain_crop
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.testing import metrics_text

MRI = "/api/v1/classify/mri"
AuthHeaders = Callable[..., dict[str, str]]
Client = AbstractAsyncContextManager[httpx.AsyncClient]


@pytest.fixture
def client_app(serving_client: Callable[..., Client], model_dir: Path) -> Client:
    return serving_client(model_dir=model_dir)


def _expected(model_dir: Path, pixels: np.ndarray) -> tuple[float, tuple[int, int, int, int]]:
    model = LiteRtMriModel.load(model_dir / MRI_MODEL / "1", ModelVersion(MRI_MODEL, 1))
    crop = brain_crop(pixels)
    return float(model.tumor_probabilities(crop.input_32[None])[0]), crop.crop_box


class TestClassifyMri:
    async def test_a_colour_photograph_answers_uncertain_without_a_probability(
        self, client_app: Client, auth: AuthHeaders
    ) -> None:
        skimage_data = pytest.importorskip("skimage.data")
        import cv2

        png = cv2.imencode(".png", np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1]))[1].tobytes()
        async with client_app as client:
            response = await client.post(MRI, files={"image": ("astronaut.png", png)}, headers=auth())

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["label"] == "uncertain" and body["out_of_distribution"] is True
        assert body["probability"] is None and body["tumor_probability"] is None
        assert "colour" in body["ood_reason"]

    async def test_a_png_slice_answers_label_probability_model_and_crop_box(
        self, client_app: Client, model_dir: Path, auth: AuthHeaders, slices: Any
    ) -> None:
        pixels = slices.pixels(seed=3, has_tumor=True)
        async with client_app as client:
            response = await client.post(MRI, files={"image": ("s.png", slices.encode(pixels))},
                                         headers=auth())
        p_tumor, box = _expected(model_dir, pixels)

        assert response.status_code == 200, response.text
        body = response.json()
        # Issue 11: every answer says what the model was trained on (unknown for this old card).
        assert body["model"] == {"name": MRI_MODEL, "version": 1, "training_data": {
            "kind": "unknown", "summary": "the model card does not say what the model was trained on"}}
        assert body["out_of_distribution"] is False and body["ood_reason"] is None
        # A version trained before issue 11 has no feature statistics: image checks only.
        assert body["ood_score"] is None and body["ood_threshold"] is None
        assert body["decision_threshold"] == 0.5
        assert body["tumor_probability"] == pytest.approx(p_tumor, abs=1e-6)
        assert body["label"] == ("tumor" if p_tumor >= 0.5 else "healthy")
        assert body["probability"] == pytest.approx(p_tumor if body["label"] == "tumor" else 1 - p_tumor)
        assert body["crop_box"] == dict(zip(("min_row", "min_col", "max_row", "max_col"), box, strict=True))

    # Issue 10: a tumor_probability below 0.5 answered `tumor` with nothing saying why.
    async def test_the_answer_states_the_cards_decision_threshold_that_made_the_label(
        self, serving_client: Callable[..., Client], model_dir: Path, auth: AuthHeaders, slices: Any
    ) -> None:
        pixels = slices.pixels(seed=3, has_tumor=True)
        p_tumor, _ = _expected(model_dir, pixels)
        threshold = round(p_tumor / 2, 6)
        card_path = model_dir / MRI_MODEL / "1" / "card.json"
        card = json.loads(card_path.read_text()) | {"decision_threshold": threshold}
        card_path.write_text(json.dumps(card))
        files = {"image": ("s.png", slices.encode(pixels))}
        async with serving_client(model_dir=model_dir) as client:
            single = await client.post(MRI, files=files, headers=auth())
            batch = await client.post(MRI + "/batch", files={"image": files["image"]}, headers=auth())

        assert single.status_code == 200, single.text
        assert (single.json()["label"], single.json()["decision_threshold"]) == ("tumor", threshold)
        assert batch.json()["decision_threshold"] == threshold
        assert batch.json()["results"][0]["prediction"] == single.json()

    async def test_a_query_parameter_of_the_batch_is_refused_not_ignored(
        self, client_app: Client, auth: AuthHeaders, slices: Any
    ) -> None:
        async with client_app as client:
            response = await client.post(MRI + "/batch?threshold=0.1", headers=auth(),
                                         files={"image": ("a.png", slices.file(1, True))})

        assert response.status_code == 422
        assert "threshold is not a parameter" in response.json()["detail"]

    @pytest.mark.parametrize("fmt", ["jpeg", "tiff", "dicom"])
    async def test_jpeg_tiff_and_dicom_slices_are_classified(
        self, client_app: Client, auth: AuthHeaders, slices: Any, fmt: str
    ) -> None:
        async with client_app as client:
            response = await client.post(MRI, files={"image": ("s", slices.file(1, False, fmt))},
                                         headers=auth())

        assert response.status_code == 200, response.text
        assert response.json()["crop_box"]["max_row"] > response.json()["crop_box"]["min_row"]

    async def test_json_base64_and_raw_bytes_answer_like_multipart(
        self, client_app: Client, auth: AuthHeaders, slices: Any
    ) -> None:
        data = slices.file(2, True)
        async with client_app as client:
            multipart = await client.post(MRI, files={"image": ("s.png", data)}, headers=auth())
            as_json = await client.post(MRI, json={"image": "data:image/png;base64," + base64.b64encode(data)
                                                   .decode()}, headers=auth())
            raw = await client.post(MRI, content=data, headers={**auth(), "Content-Type": "image/png"})

        assert multipart.json() == as_json.json() == raw.json()

    # Issue 9, finding 13: unknown fields were ignored here and refused by segment.
    async def test_an_unknown_field_is_a_422_naming_it(
        self, client_app: Client, auth: AuthHeaders, slices: Any
    ) -> None:
        image = base64.b64encode(slices.file(2, True)).decode()
        async with client_app as client:
            response = await client.post(MRI, json={"image": image, "bogus": 1}, headers=auth())
        assert response.status_code == 422
        assert "bogus is not a parameter" in response.json()["detail"]

    async def test_a_batch_classifies_each_slice_and_reports_the_one_without_a_brain(
        self, client_app: Client, auth: AuthHeaders, slices: Any
    ) -> None:
        blank = slices.encode(np.zeros((64, 64), np.uint8))
        files = [("image", ("a.png", slices.file(1, True))), ("image", ("blank.png", blank)),
                 ("image", ("c.png", b"not an image")), ("image", ("d.png", slices.file(2, False)))]
        async with client_app as client:
            response = await client.post(MRI + "/batch", files=files, headers=auth())
            single = await client.post(MRI, files={"image": ("a.png", slices.file(1, True))}, headers=auth())

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["classified"] == 2
        assert [r["filename"] for r in body["results"]] == ["a.png", "blank.png", "c.png", "d.png"]
        assert body["results"][0]["prediction"] == single.json()
        assert body["results"][1]["problem"]["title"] == "No brain found"
        assert body["results"][2]["problem"]["status"] == 422
        assert body["results"][3]["problem"] is None

    async def test_a_batch_is_sent_like_every_image_route(
        self, client_app: Client, auth: AuthHeaders, slices: Any
    ) -> None:
        """API.md: repeated multipart ``image``, a JSON list under ``image``, or a raw image/*
        body (a batch of one); ``images``, the field's first name, still works."""
        one, two = slices.file(1, True), slices.file(2, False)
        async with client_app as client:
            form = await client.post(MRI + "/batch", headers=auth(),
                                     files=[("image", ("1.png", one)), ("image", ("2.png", two))])
            alias = await client.post(MRI + "/batch", headers=auth(),
                                      files=[("images", ("1.png", one)), ("images", ("2.png", two))])
            as_json = await client.post(MRI + "/batch", headers=auth(), json={
                "image": [base64.b64encode(one).decode(), base64.b64encode(two).decode()]})
            raw = await client.post(MRI + "/batch", content=one,
                                    headers={**auth(), "content-type": "image/png"})
        predictions = [[r["prediction"] for r in answer.json()["results"]]
                       for answer in (form, alias, as_json)]
        assert predictions[0] == predictions[1] == predictions[2]
        assert [r["prediction"] for r in raw.json()["results"]] == predictions[0][:1]

    async def test_a_batch_over_the_limit_is_refused_across_both_field_names(
        self, serving_client: Callable[..., Client], model_dir: Path, auth: AuthHeaders,
        slices: Any
    ) -> None:
        files = [("image", ("0.png", slices.file(0))), ("images", ("1.png", slices.file(1))),
                 ("images", ("2.png", slices.file(2)))]
        async with serving_client(model_dir=model_dir, mri_batch_max=2) as client:
            response = await client.post(MRI + "/batch", files=files, headers=auth())

        assert response.status_code == 422
        assert "at most 2" in response.json()["detail"]

    async def test_a_batch_over_the_limit_is_refused(
        self, serving_client: Callable[..., Client], model_dir: Path, auth: AuthHeaders,
        slices: Any
    ) -> None:
        files = [("images", (f"{i}.png", slices.file(i))) for i in range(3)]
        async with serving_client(model_dir=model_dir, mri_batch_max=2) as client:
            response = await client.post(MRI + "/batch", files=files, headers=auth())

        assert response.status_code == 422
        assert "at most 2" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("data", "status", "detail"),
        [
            (b"", 422, "empty"),
            (b"plain text, not an image", 422, ""),
            (None, 422, "no brain"),
        ],
    )
    async def test_bad_slices_are_problems(
        self, client_app: Client, auth: AuthHeaders, slices: Any, data: bytes | None, status: int,
        detail: str
    ) -> None:
        payload = data if data is not None else slices.encode(np.full((80, 80), 7, np.uint8))
        async with client_app as client:
            response = await client.post(MRI, files={"image": ("s.png", payload)}, headers=auth())

        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert detail in response.json()["detail"]

    async def test_a_truncated_png_and_a_dicom_without_pixels_are_unreadable(
        self, client_app: Client, auth: AuthHeaders, slices: Any
    ) -> None:
        png = slices.file(1)
        no_pixels = slices.dicom(slices.pixels(1), with_pixels=False)
        async with client_app as client:
            half = png[: len(png) // 2]
            truncated = await client.post(MRI, files={"image": ("s.png", half)}, headers=auth())
            dicom = await client.post(MRI, files={"image": ("s.dcm", no_pixels)}, headers=auth())

        assert (truncated.status_code, dicom.status_code) == (422, 422)

    async def test_huge_dimensions_are_refused_from_the_header(
        self, serving_client: Callable[..., Client], model_dir: Path, auth: AuthHeaders,
        slices: Any
    ) -> None:
        async with serving_client(model_dir=model_dir, max_image_pixels=4000) as client:
            response = await client.post(MRI, files={"image": ("s.png", slices.file(1))}, headers=auth())

        assert response.status_code == 413
        assert response.json()["title"] == "Image too large"

    async def test_without_a_token_it_is_401(self, client_app: Client, slices: Any) -> None:
        async with client_app as client:
            response = await client.post(MRI, files={"image": ("s.png", slices.file(1))})

        assert response.status_code == 401

    async def test_an_empty_store_answers_503_model_unavailable_and_is_not_ready(
        self, serving_client: Callable[..., Client], tmp_path: Path, auth: AuthHeaders, slices: Any
    ) -> None:
        async with serving_client(model_dir=tmp_path / "empty") as client:
            response = await client.post(MRI, files={"image": ("s.png", slices.file(1))}, headers=auth())
            ready = await client.get("/readyz")

        assert response.status_code == 503
        assert response.json()["title"] == "Model unavailable"
        assert ready.status_code == 503
        assert "mri-tumor" in ready.json()["checks"]["models"]

    async def test_a_new_version_activated_in_the_store_serves_without_a_restart(
        self, client_app: Client, add_model_version: Callable[[], int], auth: AuthHeaders, slices: Any,
        model_dir: Path
    ) -> None:
        async with client_app as client:
            before = await client.post(MRI, files={"image": ("s.png", slices.file(1))}, headers=auth())
            assert add_model_version() == 2
            after = await client.post(MRI, files={"image": ("s.png", slices.file(1))}, headers=auth())

        assert before.json()["model"]["version"] == 1
        assert after.json()["model"]["version"] == 2
        assert ModelStore(model_dir).active_version(MRI_MODEL) == 2


class TestMetrics:
    async def test_predictions_per_label_and_inference_time_are_exported(
        self, client_app: Client, auth: AuthHeaders, slices: Any
    ) -> None:
        async with client_app as client:
            before = metrics_text()
            response = await client.post(MRI, files={"image": ("s.png", slices.file(1))}, headers=auth())
            answer = response.json()
            after = metrics_text()

        label_line = f'specimen_predictions_total{{label="{answer["label"]}",model="{MRI_MODEL}"}}'
        assert _value(after, label_line) == _value(before, label_line) + 1
        count_line = f'specimen_model_inference_seconds_count{{model="{MRI_MODEL}"}}'
        assert _value(after, count_line) == _value(before, count_line) + 1


def _value(metrics: str, series: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
