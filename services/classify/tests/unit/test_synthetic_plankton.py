"""Synthetic plankton frames: placement, labels, shapes, determinism and the generator CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from specimen_classify.adapters.datasets import VIGNETTES_PER_FRAME
from specimen_classify.cli import main
from specimen_classify.domain import vignette_morphology
from specimen_classify.domain.synthetic_plankton import (
    CALIBRATION_VARIETY,
    CATEGORIES,
    CATEGORY_OF_FOLDER,
    FIRST_VARIETY,
    FOLDER_NAMES,
    MAX_VIGNETTE,
    MIN_GAP,
    MIN_VIGNETTE,
    TRAINING_VARIETY,
    object_crop,
    plankton_frame,
    plankton_vignette,
)

COUNTS = {"phytoplankton aggregates": 3, "fecal aggregates": 2, "single cells": 4,
          "cylindrical fecal pellets": 1, "ovoid fecal pellets": 2}


def _elongation(mask: np.ndarray) -> float:
    points = np.argwhere(mask).astype(float)
    eigen = np.linalg.eigvalsh(np.cov(points.T))
    return float(np.sqrt(eigen[1] / max(eigen[0], 1e-6)))


class TestVignetteMorphology:
    @pytest.mark.parametrize("category", CATEGORIES)
    def test_a_drawn_organism_is_its_mask_with_darkness_in_range(self, category: str) -> None:
        draw = vignette_morphology.MORPHOLOGIES[category]
        mask, shade = draw(np.random.default_rng(3), 80.0)
        again, _ = draw(np.random.default_rng(3), 80.0)

        assert mask.any() and mask.shape == shade.shape and np.array_equal(mask, again)
        assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()  # cropped
        assert shade.min() >= 0.0 and shade.max() <= 1.0 and not shade[~mask].any()
        assert 0.5 * 80 <= max(mask.shape) <= 2.2 * 80

    def test_pellets_are_opaque_rods_and_ovals_and_cells_translucent(self) -> None:
        def drawn(category: str) -> list[tuple[np.ndarray, np.ndarray]]:
            rng = np.random.default_rng(11)
            return [vignette_morphology.MORPHOLOGIES[category](rng, 120.0) for _ in range(20)]

        rods = [_elongation(m) for m, _ in drawn("cylindrical fecal pellets")]
        ovals = [_elongation(m) for m, _ in drawn("ovoid fecal pellets")]
        assert min(ovals) > 1.0 and max(ovals) < 2.8 and np.median(rods) > np.median(ovals) + 1.0

        def core_over_rim(mask: np.ndarray, shade: np.ndarray) -> float:
            depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
            return float(shade[depth > 0.5 * depth.max()].mean() / shade[(depth > 0) & (depth <= 2)].mean())

        cells = [core_over_rim(m, s) for m, s in drawn("single cells")]
        pellets = [core_over_rim(m, s) for m, s in drawn("ovoid fecal pellets")]
        assert np.median(cells) < 0.8 < np.median(pellets)


class TestPlanktonVignette:
    @pytest.mark.parametrize("variety", [TRAINING_VARIETY, CALIBRATION_VARIETY, FIRST_VARIETY])
    def test_sizes_and_determinism_of_each_variety(self, variety: object) -> None:
        for k, category in enumerate(CATEGORIES):
            v = plankton_vignette((1, k), category, variety)  # type: ignore[arg-type]
            same = plankton_vignette((1, k), category, variety)  # type: ignore[arg-type]

            assert min(v.image.shape[:2]) >= MIN_VIGNETTE and max(v.image.shape[:2]) <= MAX_VIGNETTE
            assert np.array_equal(v.image, same.image) and v.mask.any()

    def test_spines_of_the_new_varieties_end_inside_the_crop(self) -> None:
        # Regression (issue 11): setae drawn past the crop's edge made the crop's segmentation
        # take the whole crop for the organism; an instrument's crop holds the whole organism.
        from specimen_classify.domain.synthetic_plankton import _spines

        body = np.zeros((60, 80), bool)
        body[25:35, 30:50] = True
        for seed in range(20):
            kept = _spines(np.random.default_rng(seed), body, 4.0, inside=True)
            loose = _spines(np.random.default_rng(seed), body, 4.0)

            assert kept.any()
            assert not (kept[:2].any() or kept[-2:].any() or kept[:, :2].any() or kept[:, -2:].any())
        assert loose[:2].any() or loose[-2:].any() or loose[:, :2].any() or loose[:, -2:].any()


class TestPlanktonFrame:
    def test_counts_per_category_are_as_requested(self) -> None:
        frame = plankton_frame(1, COUNTS, height=320, width=320)

        got = {category: [o.category for o in frame.objects].count(category) for category in CATEGORIES}
        assert got == COUNTS

    def test_labels_agree_with_records(self) -> None:
        frame = plankton_frame(2, COUNTS, height=320, width=256)

        assert frame.labels.dtype == np.int32 and frame.labels.shape == (320, 256)
        assert sorted(np.unique(frame.labels).tolist()) == list(range(len(frame.objects) + 1))
        for number, record in enumerate(frame.objects, start=1):
            rows, cols = np.nonzero(frame.labels == record.object_id)
            assert record.object_id == number
            assert record.bbox == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
            assert record.area == rows.size
            assert record.centre == pytest.approx((rows.mean(), cols.mean()))

    def test_objects_neither_touch_each_other_nor_the_border(self) -> None:
        frame = plankton_frame(3, dict.fromkeys(CATEGORIES, 4), height=400, width=400)
        kernel = np.ones((2 * MIN_GAP - 1, 2 * MIN_GAP - 1), np.uint8)

        for record in frame.objects:
            own = (frame.labels == record.object_id).astype(np.uint8)
            near = cv2.dilate(own, kernel) > 0
            assert set(np.unique(frame.labels[near]).tolist()) <= {0, record.object_id}
            r0, c0, r1, c1 = record.bbox
            assert r0 >= MIN_GAP and c0 >= MIN_GAP and r1 <= 400 - MIN_GAP and c1 <= 400 - MIN_GAP

    def test_objects_are_dark_on_a_light_vignetted_background(self) -> None:
        frame = plankton_frame(4, COUNTS, height=256, width=256)
        background = frame.image[frame.labels == 0].astype(float)

        assert background.mean() > 150
        assert frame.image[frame.labels > 0].mean() < background.mean() - 40
        assert frame.background[:16, :16].mean() < frame.background[120:136, 120:136].mean()

    def test_shape_statistics_differ_by_category(self) -> None:
        frame = plankton_frame(5, dict.fromkeys(CATEGORIES, 6), height=512, width=512)

        def elongation(object_id: int) -> float:
            points = np.argwhere(frame.labels == object_id).astype(float)
            eigen = np.linalg.eigvalsh(np.cov(points.T))
            return float(np.sqrt(eigen[1] / max(eigen[0], 1e-6)))

        def mean_of(category: str, measure: str) -> float:
            chosen = [o for o in frame.objects if o.category == category]
            if measure == "area":
                return float(np.mean([o.area for o in chosen]))
            return float(np.mean([elongation(o.object_id) for o in chosen]))

        assert mean_of("single cells", "area") < mean_of("ovoid fecal pellets", "area")
        rods = mean_of("cylindrical fecal pellets", "elongation")
        ovoids = mean_of("ovoid fecal pellets", "elongation")
        assert rods > ovoids
        assert mean_of("ovoid fecal pellets", "elongation") > mean_of("single cells", "elongation")

    def test_same_seed_gives_identical_png_and_other_seed_differs(self) -> None:
        def encoded(seed: int) -> bytes:
            return bytes(cv2.imencode(".png", plankton_frame(seed, COUNTS, 192, 192).image)[1].tobytes())

        assert encoded(7) == encoded(7)
        assert encoded(7) != encoded(8)

    def test_crop_paints_out_neighbours_and_keeps_the_frame(self) -> None:
        frame = plankton_frame(6, COUNTS, height=256, width=256)
        before = frame.image.copy()

        crop = object_crop(frame, 1, padding=3)

        r0, c0, r1, c1 = frame.objects[0].bbox
        assert crop.shape == (r1 - r0 + 6, c1 - c0 + 6)
        assert np.array_equal(frame.image, before)

    def test_folder_names_map_both_ways(self) -> None:
        assert FOLDER_NAMES["single cells"] == "single_cells"
        assert {CATEGORY_OF_FOLDER[folder] for folder in FOLDER_NAMES.values()} == set(CATEGORIES)

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"counts": {"diatoms": 1}}, "diatoms"),
        ({"counts": {"single cells": -1}}, "single cells"),
        ({"height": 10}, "height=10"),
        ({"seed": -3}, "seed=-3"),
        ({"counts": dict.fromkeys(CATEGORIES, 200), "height": 128, "width": 128}, "crowded"),
    ])
    def test_bad_arguments_are_named(self, kwargs: dict[str, object], message: str) -> None:
        arguments: dict[str, object] = {"seed": 1, "counts": COUNTS, "height": 256, "width": 256, **kwargs}
        with pytest.raises(ValueError, match=message):
            plankton_frame(**arguments)  # type: ignore[arg-type]


class TestGenerateCommand:
    def test_mri_writes_the_kaggle_layout_reproducibly(self, tmp_path: Path) -> None:
        for run in ("a", "b"):
            assert main(["generate", "mri", str(tmp_path / run), "--count", "2", "--seed", "3",
                         "--size", "64"]) == 0

        for folder in ("yes", "no"):
            names = sorted(p.name for p in (tmp_path / "a" / folder).glob("*.png"))
            assert len(names) == 2
            for name in names:
                assert (tmp_path / "a" / folder / name).read_bytes() == \
                    (tmp_path / "b" / folder / name).read_bytes()
        with (tmp_path / "a" / "metadata.csv").open() as handle:
            assert len(list(csv.DictReader(handle))) == 4

    def test_plankton_writes_frames_labels_and_class_folders(self, tmp_path: Path) -> None:
        assert main(["generate", "plankton", str(tmp_path), "--frames", "2", "--seed", "1",
                     "--per-category", "2", "--height", "256", "--width", "256"]) == 0

        assert len(list((tmp_path / "frames").glob("*.png"))) == 2
        with (tmp_path / "labels.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 2 * 2 * len(CATEGORIES)
        for folder in FOLDER_NAMES.values():
            assert len(list((tmp_path / "objects" / folder).glob("frame*.png"))) == 4
            # and the vignettes, VIGNETTES_PER_FRAME of each category per frame, PNG or JPEG
            assert len(list((tmp_path / "objects" / folder).glob("vignette*"))) == 2 * VIGNETTES_PER_FRAME
        assert all((tmp_path / row["crop"]).is_file() for row in rows)

    # Issue 10: --count 500 wrote 1000 files and the help did not say so.
    def test_mri_help_says_count_is_per_class(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            main(["generate", "mri", "--help"])

        shown = " ".join(capsys.readouterr().out.split())
        assert "slices PER CLASS: COUNT in yes/ and COUNT in no/, so 2 x COUNT files" in shown

    def test_bad_count_exits_with_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as exit_info:
            main(["generate", "mri", str(tmp_path), "--count", "0", "--seed", "1"])

        assert exit_info.value.code == 2
        assert "count=0" in capsys.readouterr().err
