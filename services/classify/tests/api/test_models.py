from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.domain.predictions import MRI_MODEL
from specimen_kit.problems import PROBLEM_JSON

MODELS = "/api/v1/models"
RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MRI = "/api/v1/classify/mri"
AuthHeaders = Callable[..., dict[str, str]]
Client = AbstractAsyncContextManager[httpx.AsyncClient]


@pytest.fixture
def two_versions(model_dir: Path, add_model_version: Callable[[], int]) -> Path:
    """Versions 1 and 2 of the MRI model, 2 active, 1 with a card holding metrics and a plot."""
    card_path = model_dir / MRI_MODEL / "1" / "card.json"
    card = json.loads(card_path.read_text())
    card.update(task="tumor/healthy", created_at="2026-11-21T10:00:00+00:00",
                metrics={"test": {"accuracy": 0.97, "balanced_accuracy": 0.96, "f1_macro": 0.965}})
    card_path.write_text(json.dumps(card))
    cv2.imwrite(str(model_dir / MRI_MODEL / "1" / "confusion_matrix.png"), np.zeros((4, 4), np.uint8))
    assert add_model_version() == 2
    return model_dir


class TestModelRoutes:
    async def test_the_list_shows_each_model_its_versions_metrics_and_the_active_one(
        self, serving_client: Callable[..., Client], two_versions: Path, auth: AuthHeaders
    ) -> None:
        async with serving_client(model_dir=two_versions) as client:
            response = await client.get(MODELS, headers=auth())

        assert response.status_code == 200
        names = [m["name"] for m in response.json()["models"]]
        assert names == [MRI_MODEL, "plankton"]
        model = response.json()["models"][0]
        assert model["active"]["version"] == 2
        assert model["active"]["activated_by"] == "test"
        assert [(v["version"], v["active"]) for v in model["versions"]] == [(1, False), (2, True)]
        assert model["versions"][0]["metrics"] == {"accuracy": 0.97, "balanced_accuracy": 0.96,
                                                   "f1_macro": 0.965}
        # Issue 10: one timestamp form, whatever the card or the activation record holds.
        assert model["versions"][0]["created_at"] == "2026-11-21T10:00:00.000Z"
        assert RFC3339_Z.fullmatch(model["active"]["activated_at"])

    async def test_a_version_answers_its_card_and_links_its_plot(
        self, serving_client: Callable[..., Client], two_versions: Path, auth: AuthHeaders
    ) -> None:
        async with serving_client(model_dir=two_versions) as client:
            response = await client.get(f"{MODELS}/{MRI_MODEL}/versions/1", headers=auth())
            plot = await client.get(response.json()["plots"]["confusion-matrix"], headers=auth())
            no_roc = await client.get(f"{MODELS}/{MRI_MODEL}/versions/1/roc.png", headers=auth())

        body = response.json()
        assert (body["name"], body["version"], body["active"]) == (MRI_MODEL, 1, False)
        assert body["card"]["metrics"]["test"]["accuracy"] == 0.97
        assert body["created_at"] == body["card"]["created_at"] == "2026-11-21T10:00:00.000Z"
        # Issue 10: the link was built from the request (classify's internal address).
        assert body["plots"] == {"confusion-matrix": f"{MODELS}/{MRI_MODEL}/versions/1/confusion-matrix.png"}
        assert (plot.status_code, plot.headers["content-type"]) == (200, "image/png")
        assert plot.content.startswith(b"\x89PNG")
        assert no_roc.status_code == 404

    @pytest.mark.parametrize("path", ["", f"/{MRI_MODEL}", f"/{MRI_MODEL}/versions/1",
                                      f"/{MRI_MODEL}/versions/1/confusion-matrix.png"])
    async def test_a_query_parameter_is_a_422_naming_it_not_ignored(
        self, serving_client: Callable[..., Client], two_versions: Path, auth: AuthHeaders, path: str
    ) -> None:
        async with serving_client(model_dir=two_versions) as client:
            response = await client.get(f"{MODELS}{path}?foo=1", headers=auth())
            activate = await client.post(f"{MODELS}/{MRI_MODEL}/versions/1/activate?by=me",
                                         headers=auth(sub="8", role="moderator"))

        assert response.status_code == activate.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "foo is not a parameter" in response.json()["detail"]
        assert ModelStore(two_versions).active_version(MRI_MODEL) == 2

    @pytest.mark.parametrize("path", ["/nothing", f"/{MRI_MODEL}/versions/9", "/Bad..Name",
                                      f"/{MRI_MODEL}/versions/1/card.png"])
    async def test_unknown_models_versions_and_plots_are_404_problems(
        self, serving_client: Callable[..., Client], two_versions: Path, auth: AuthHeaders, path: str
    ) -> None:
        async with serving_client(model_dir=two_versions) as client:
            response = await client.get(MODELS + path, headers=auth())

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON

    async def test_a_moderator_activates_a_version_and_classification_switches_to_it(
        self, serving_client: Callable[..., Client], two_versions: Path, auth: AuthHeaders, slices: object
    ) -> None:
        image = slices.file(1)  # type: ignore[attr-defined]
        async with serving_client(model_dir=two_versions, model_refresh_seconds=3600) as client:
            before = await client.post(MRI, files={"image": ("s.png", image)}, headers=auth())
            activated = await client.post(f"{MODELS}/{MRI_MODEL}/versions/1/activate",
                                          headers=auth(sub="8", role="moderator"))
            after = await client.post(MRI, files={"image": ("s.png", image)}, headers=auth())

        assert activated.status_code == 200, activated.text
        assert (activated.json()["version"], activated.json()["activated_by"]) == (1, "8")
        assert RFC3339_Z.fullmatch(activated.json()["activated_at"])
        assert (before.json()["model"]["version"], after.json()["model"]["version"]) == (2, 1)
        assert ModelStore(two_versions).active_version(MRI_MODEL) == 1

    async def test_a_technician_may_not_activate(
        self, serving_client: Callable[..., Client], two_versions: Path, auth: AuthHeaders
    ) -> None:
        async with serving_client(model_dir=two_versions) as client:
            response = await client.post(f"{MODELS}/{MRI_MODEL}/versions/1/activate", headers=auth())

        assert response.status_code == 403
        assert ModelStore(two_versions).active_version(MRI_MODEL) == 2

    async def test_a_version_whose_artifact_does_not_load_is_refused_and_the_active_one_stays(
        self, serving_client: Callable[..., Client], two_versions: Path, auth: AuthHeaders
    ) -> None:
        (two_versions / MRI_MODEL / "1" / "model.tflite").write_bytes(b"not a flatbuffer")
        async with serving_client(model_dir=two_versions) as client:
            response = await client.post(f"{MODELS}/{MRI_MODEL}/versions/1/activate",
                                         headers=auth(role="admin", sub="1"))

        assert response.status_code == 409
        assert response.json()["title"] == "Model version cannot be served"
        assert ModelStore(two_versions).active_version(MRI_MODEL) == 2
