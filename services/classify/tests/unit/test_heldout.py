"""The held-out generator families: deterministic, labelled as drawn, in range, every variant drawn,
readable by the serving decoders and laid out as the trainer and evaluator read folders."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.cli import main
from specimen_classify.domain.plankton.crops import crop_features
from specimen_classify.domain.preprocessing import brain_crop
from specimen_classify.domain.synthetic_plankton import CATEGORY_OF_FOLDER
from specimen_classify.heldout import mri, plankton
from specimen_imaging.codecs import decode_image

MRI_SEEDS = range(60)
CROP_SEEDS = range(120)


@pytest.fixture(scope="module")
def slices() -> list[tuple[np.ndarray, bool, dict]]:
    return [mri.heldout_mri_slice(seed) for seed in MRI_SEEDS]


@pytest.fixture(scope="module")
def crops() -> list[tuple[np.ndarray, str, dict]]:
    return [plankton.heldout_plankton_crop(seed, plankton.CATEGORIES[seed % 5]) for seed in CROP_SEEDS]


# MRI -----------------------------------------------------------------------------------------------


def test_mri_slice_is_deterministic_by_seed() -> None:
    first, tumor, meta = mri.heldout_mri_slice((4, 1, 2))
    again, tumor_again, meta_again = mri.heldout_mri_slice((4, 1, 2))
    other, _, _ = mri.heldout_mri_slice((4, 1, 3))
    assert np.array_equal(first, again) and tumor == tumor_again and meta == meta_again
    assert first.shape != other.shape or not np.array_equal(first, other)


@pytest.mark.parametrize("has_tumor", [True, False])
def test_mri_forced_class_is_kept_and_described(has_tumor: bool) -> None:
    for seed in range(6):
        _, tumor, meta = mri.heldout_mri_slice(seed, has_tumor=has_tumor)
        assert tumor is has_tumor
        assert (meta["lesion"] in mri.LESIONS) if has_tumor else meta["lesion"] is None


def test_mri_labels_match_lesions_and_both_classes_are_drawn(slices: list) -> None:
    assert {tumor for _, tumor, _ in slices} == {True, False}
    for _, tumor, meta in slices:
        assert (meta["lesion"] is not None) is tumor


def test_mri_pixels_are_stored_as_scanners_export_them(slices: list) -> None:
    for image, _, meta in slices:
        assert image.dtype == (np.uint16 if meta["format"] == "png16" else np.uint8)
        assert image.ndim == (3 if meta["format"] == "jpeg_rgb" else 2)
        assert min(image.shape[:2]) >= 96 and max(image.shape[:2]) <= 512
        assert list(image.shape[:2]) == meta["matrix"]
        gray = image[..., 0] if image.ndim == 3 else image
        top = 255 if gray.dtype == np.uint8 else int(gray.max())
        # Air around the head is dark and the head bright: what every MRI reader expects.
        corners = np.concatenate([gray[:8, :8].ravel(), gray[-8:, -8:].ravel()])
        assert np.median(corners) < 0.15 * top
        assert np.percentile(gray, 99) > 0.5 * top


def test_mri_every_variant_is_drawn(slices: list) -> None:
    metas = [meta for _, _, meta in slices]
    assert {m["contrast"] for m in metas} == set(mri.CONTRASTS)
    assert {m["lesion"] for m in metas} == {*mri.LESIONS, None}
    assert {m["format"] for m in metas} == set(mri.FORMATS)
    assert {m["level"] for m in metas} == set(mri.LEVELS)
    assert {m["skull_stripped"] for m in metas} == {True, False}
    assert set().union(*(m["hard_negatives"] for m in metas)) == set(mri.HARD_NEGATIVES)
    assert len({tuple(m["matrix"]) for m in metas}) > 10


def test_mri_hard_negatives_of_asymmetry_are_only_on_healthy_slices(slices: list) -> None:
    for _, tumor, meta in slices:
        if tumor:
            assert "asymmetric_ventricles" not in meta["hard_negatives"]


def test_mri_files_decode_and_hold_a_brain(slices: list) -> None:
    for image, _, meta in slices[:20]:
        data, extension = mri.encode_slice(image, meta)
        assert extension == (".jpg" if meta["format"].startswith("jpeg") else ".png")
        pixels = read_mri(data, max_pixels=10_000_000)
        assert pixels.shape == image.shape[:2]
        crop = brain_crop(pixels)
        r0, c0, r1, c1 = crop.crop_box
        # The brain crop holds most of the head, not a speck of noise.
        assert (r1 - r0) * (c1 - c0) > 0.2 * pixels.size


def test_write_heldout_mri_lays_out_yes_and_no(tmp_path: Path) -> None:
    assert mri.write_heldout_mri(tmp_path, 2, seed=5) == 4
    assert sorted(p.parent.name for p in tmp_path.glob("*/H*")) == ["no", "no", "yes", "yes"]
    with (tmp_path / "metadata.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["file"].split("/")[0], r["has_tumor"]) for r in rows} == {("yes", "1"), ("no", "0")}
    for row in rows:
        assert (tmp_path / row["file"]).is_file()
        assert bool(row["lesion"]) is (row["has_tumor"] == "1")
    with pytest.raises(ValueError, match="count=0"):
        mri.write_heldout_mri(tmp_path, 0, seed=5)


# Plankton ------------------------------------------------------------------------------------------


def test_crop_is_deterministic_by_seed() -> None:
    first = plankton.heldout_plankton_crop((1, 2, 3))
    again = plankton.heldout_plankton_crop((1, 2, 3))
    assert np.array_equal(first[0], again[0]) and first[1:] == again[1:]
    assert not np.array_equal(first[0], plankton.heldout_plankton_crop((1, 2, 4))[0])


def test_crop_category_is_kept_and_unknown_ones_refused() -> None:
    for category in plankton.CATEGORIES:
        assert plankton.heldout_plankton_crop(7, category)[1] == category
    assert plankton.heldout_plankton_crop(7)[1] in plankton.CATEGORIES
    with pytest.raises(ValueError, match="unknown"):
        plankton.heldout_plankton_crop(7, "copepods")


def test_crops_are_vignettes_of_50_to_400_pixels(crops: list) -> None:
    for image, _, meta in crops:
        assert image.dtype == np.uint8
        assert image.ndim == (3 if meta["colour"] else 2)
        assert min(image.shape[:2]) >= 50 and max(image.shape[:2]) <= 400
        gray = image.mean(axis=2) if image.ndim == 3 else image.astype(float)
        border = np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]]))
        centre = gray[
            gray.shape[0] // 3 : 2 * gray.shape[0] // 3, gray.shape[1] // 3 : 2 * gray.shape[1] // 3
        ]
        # The object differs from its background in the polarity its instrument records.
        if meta["bright_object"]:
            assert border < 60 and centre.max() > border + 40
        else:
            assert border > 110 and centre.min() < border - 40


def test_crops_every_variant_is_drawn(crops: list) -> None:
    metas = [meta for _, _, meta in crops]
    assert {m["style"] for m in metas} == set(plankton.STYLES)
    assert {m["bright_object"] for m in metas} == {True, False}
    assert {m["colour"] for m in metas} == {True, False}
    assert {m["format"] for m in metas} == {"jpeg", "png"}
    assert {m["scale_bar"] for m in metas} == {True, False}
    assert {m["debris"] for m in metas} == {True, False}
    assert {m["cell"] for m in metas if "cell" in m} == set(plankton.CELL_KINDS)
    assert {category for _, category, _ in crops} == set(plankton.CATEGORIES)


def test_dark_on_light_crops_hold_an_object_for_the_trainer(crops: list) -> None:
    found = [
        crop_features(decode_image(plankton.encode_crop(image, meta)[0], max_pixels=10**6).pixels)
        for image, _, meta in crops[:30]
        if not meta["bright_object"]
    ]
    assert all(row is not None for row in found)


def test_write_heldout_plankton_uses_the_trainers_class_folders(tmp_path: Path) -> None:
    assert plankton.write_heldout_plankton(tmp_path, 2, seed=3) == 10
    folders = {p.name for p in tmp_path.iterdir() if p.is_dir()}
    assert {CATEGORY_OF_FOLDER[f] for f in folders} == set(plankton.CATEGORIES)
    for path in tmp_path.glob("*/*"):
        pixels = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
        assert pixels is not None and min(pixels.shape[:2]) >= 50
    with pytest.raises(ValueError, match="per_class=0"):
        plankton.write_heldout_plankton(tmp_path, 0, seed=3)


# CLI -----------------------------------------------------------------------------------------------


def test_cli_generates_both_heldout_families(tmp_path: Path) -> None:
    assert main(["generate", "heldout-mri", str(tmp_path / "mri"), "--count", "1", "--seed", "2"]) == 0
    assert (
        main(["generate", "heldout-plankton", str(tmp_path / "pk"), "--per-class", "1", "--seed", "2"]) == 0
    )
    assert len(list((tmp_path / "mri").glob("*/H*"))) == 2
    assert len(list((tmp_path / "pk").glob("*/heldout*"))) == 5


def test_cli_refuses_an_empty_heldout_set(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "heldout-mri", str(tmp_path), "--count", "0", "--seed", "2"])
    assert exit_info.value.code == 2
