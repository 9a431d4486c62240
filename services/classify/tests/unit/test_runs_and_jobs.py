"""Pure rules of runs and jobs: settings validated as /classify/plankton validates them, their
hash, the crops and masks, the fan-in's closing status, the backoff; and the run's frame pipeline
being the route's (one pipeline, not two)."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from specimen_classify.adapters.forest_runtime import OnnxPlanktonModel
from specimen_classify.domain import jobs, synthetic_plankton
from specimen_classify.domain.jobs import TaskCounts, closing_status, retry_intervals
from specimen_classify.domain.plankton import runs
from specimen_classify.domain.plankton.classify import classify_frame, classify_frame_objects
from specimen_classify.domain.plankton.runs import RunSettings, cut_vignette, settings_hash
from specimen_classify.domain.plankton.segmentation import PlanktonSegmentation
from specimen_classify.domain.predictions import PLANKTON_MODEL, ModelVersion


@pytest.mark.parametrize("module", [jobs, runs])
def test_doctests(module: object) -> None:
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert failed == 0


class TestRunSettings:
    def test_the_segmentation_fields_are_the_routes(self) -> None:
        run = RunSettings(min_area=25, closing_radius=1, padding=3)
        assert run.segmentation() == PlanktonSegmentation(min_area=25, closing_radius=1)
        assert set(PlanktonSegmentation.model_fields) < set(RunSettings.model_fields)

    @pytest.mark.parametrize("bad", [{"padding": -1}, {"fade_background": 1.5}, {"model_version": 0},
                                     {"min_area": -3}, {"polarity": "sideways"}, {"unknown": 1}])
    def test_bad_settings_are_refused(self, bad: dict[str, object]) -> None:
        with pytest.raises(ValidationError):
            RunSettings.model_validate(bad)

    def test_the_hash_names_the_settings(self) -> None:
        a = RunSettings(model_version=1).model_dump(mode="json")
        assert settings_hash(a) == settings_hash(dict(reversed(list(a.items()))))
        assert settings_hash(a) != settings_hash({**a, "padding": a["padding"] + 1})
        assert len(settings_hash(a)) == 64


class TestVignettes:
    def test_crop_and_mask_of_an_object_near_the_edge(self) -> None:
        frame = np.full((20, 30), 220, np.uint8)
        frame[0:4, 25:30] = 30
        labels = np.zeros((20, 30), np.int32)
        labels[0:4, 25:30] = 2
        vignette = cut_vignette(frame, labels, 2, (0, 25, 4, 30), RunSettings(padding=3))
        assert vignette.origin == (0, 22)
        assert vignette.crop.shape == vignette.mask.shape == (7, 8)  # clipped at the frame's edges
        assert vignette.mask.sum() == 20 and vignette.crop.dtype == np.uint8

    def test_contours_make_an_rgb_crop_with_a_red_outline(self) -> None:
        frame = np.full((20, 20), 200, np.uint16) * 257
        frame[5:15, 5:15] = 0
        labels = np.zeros((20, 20), np.int32)
        labels[5:15, 5:15] = 1
        vignette = cut_vignette(frame, labels, 1, (5, 5, 15, 15), RunSettings(padding=2, contours=True))
        assert vignette.crop.shape == (14, 14, 3)
        assert tuple(vignette.crop[2, 2]) == (255, 0, 0)  # the object's corner, on the outline
        assert tuple(vignette.crop[0, 0]) == (200, 200, 200)  # 16-bit scaled to 8


class TestFanIn:
    def test_closing(self) -> None:
        assert closing_status(TaskCounts(queued=1, succeeded=5), False) is None
        assert closing_status(TaskCounts(running=1, failed=5), True) is None
        assert closing_status(TaskCounts(succeeded=5, failed=1), False) == "succeeded"
        assert closing_status(TaskCounts(failed=2, cancelled=1), False) == "failed"
        assert closing_status(TaskCounts(succeeded=1, cancelled=1), True) == "cancelled"

    def test_backoff_grows(self) -> None:
        assert retry_intervals(3, 2.0) == [2, 8, 32]


def test_a_run_frame_goes_through_the_routes_pipeline(plankton_version: Path) -> None:
    """classify_frame (POST /classify/plankton) is classify_frame_objects without the labels."""
    model = OnnxPlanktonModel.load(plankton_version, ModelVersion(PLANKTON_MODEL, 1))
    counts = dict.fromkeys(synthetic_plankton.CATEGORIES, 2)
    frame = synthetic_plankton.plankton_frame((3, 0), counts, 256, 256)
    options = RunSettings(min_area=15).segmentation()
    labelled, found = classify_frame_objects(frame.image, model, options)
    assert found == classify_frame(frame.image, model, options) and found
    for item in found:
        r0, c0, r1, c1 = item.bbox
        assert (labelled.labels[r0:r1, c0:c1] == item.object_id).any()


def test_the_worker_warms_the_pipeline_up_before_forking(plankton_version: Path, tmp_path: Path) -> None:
    """``prepare_worker`` runs one small frame through the task's pipeline in the parent, so that
    the libraries' one-off set-up (~0.2 CPU s) is not paid again in every forked work horse; a
    store without a plankton model still gives a worker (the warm-up is skipped).

    The object descriptors are part of the task: their bases and tables, loaded on first use,
    were loaded in every horse (~0.1 CPU s of a 40-object frame's ~0.3) until the warm-up
    described its objects too."""
    import shutil

    from specimen_classify.adapters.model_store import ModelStore
    from specimen_classify.adapters.plankton_runs import PlanktonModels
    from specimen_classify.domain.plankton import object_similarity
    from specimen_imaging import similarity

    loaded_on_first_use = [similarity.default_basis, similarity._colour_tables, similarity._gradient_tables,
                           object_similarity.default_feature_basis]
    for cached in loaded_on_first_use:
        cached.cache_clear()

    store = ModelStore(tmp_path / "models")
    staged = store.staging_dir()
    shutil.copytree(plankton_version, staged, dirs_exist_ok=True)
    version = store.register(PLANKTON_MODEL, staged, activate=True, by="test")
    models = PlanktonModels(store)
    assert models.preload_active() == version
    models.warm_up(version)  # raises on a broken pipeline: prepare_worker would only log it
    assert [cached.cache_info().currsize for cached in loaded_on_first_use] == [1] * len(loaded_on_first_use)
    assert PlanktonModels(ModelStore(tmp_path / "empty")).preload_active() is None
