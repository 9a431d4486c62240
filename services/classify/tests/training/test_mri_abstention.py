"""Issue 11: a small model really trained on generated slices abstains on what is not an MRI.

Goal of the issue: no photograph, document or simple drawing answered tumor/healthy with a
probability of 0.8 or more, while at least 95 % of held-out slices (the same generator, seeds the
training never saw) are still answered. Both halves are measured here through the served path:
PNG bytes → :func:`read_mri` → :func:`classify_each` with the exported LiteRT model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

pytest.importorskip("tensorflow")
skimage_data = pytest.importorskip("skimage.data")

from specimen_classify.adapters.datasets import generate_mri  # noqa: E402
from specimen_classify.adapters.mri_images import read_mri  # noqa: E402
from specimen_classify.adapters.mri_runtime import LiteRtMriModel  # noqa: E402
from specimen_classify.domain.predictions import (  # noqa: E402
    MRI_MODEL,
    ModelVersion,
    MriPrediction,
    classify_each,
)
from specimen_classify.training.mri import train_mri  # noqa: E402

PHOTOGRAPHS = ("astronaut", "coins", "chelsea", "coffee", "camera", "text", "page", "rocket", "moon",
               "horse", "brick", "grass", "gravel", "clock", "hubble_deep_field", "immunohistochemistry",
               "retina", "cell", "logo", "checkerboard", "binary_blobs", "microaneurysms")


def _drawings() -> dict[str, npt.NDArray[np.uint8]]:
    """Documents and simple shapes on black, the cases image checks alone might let through."""
    drawn: dict[str, npt.NDArray[np.uint8]] = {}
    disc = np.zeros((256, 256), np.uint8)
    cv2.circle(disc, (128, 128), 90, 255, -1)
    drawn["white disc"] = disc
    ellipse = np.zeros((256, 256), np.uint8)
    cv2.ellipse(ellipse, (128, 128), (80, 100), 0, 0, 360, 180, -1)
    drawn["gray ellipse"] = ellipse
    blob = np.zeros((256, 256), np.uint8)
    cv2.circle(blob, (128, 128), 90, 160, -1)
    cv2.circle(blob, (150, 110), 25, 255, -1)
    drawn["disc with a bright blob"] = blob
    square = np.zeros((256, 256), np.uint8)
    cv2.rectangle(square, (60, 60), (200, 190), 220, -1)
    drawn["square"] = square
    ring = np.zeros((256, 256), np.uint8)
    cv2.circle(ring, (128, 128), 90, 200, 8)
    drawn["ring"] = ring
    word = np.zeros((256, 256), np.uint8)
    cv2.putText(word, "MRI", (20, 170), cv2.FONT_HERSHEY_SIMPLEX, 4, 255, 12)
    drawn["word on black"] = word
    page = np.full((300, 220), 255, np.uint8)
    for y in range(30, 280, 18):
        cv2.putText(page, "Lorem ipsum dolor sit", (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1)
    drawn["document"] = page
    drawn["noise"] = np.random.default_rng(0).integers(0, 256, (256, 256), dtype=np.uint8)
    return drawn


def _not_mri() -> dict[str, npt.NDArray[np.uint8]]:
    pictures: dict[str, npt.NDArray[np.uint8]] = {}
    for name in PHOTOGRAPHS:
        image = np.asarray(getattr(skimage_data, name)())
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        pictures[name] = np.ascontiguousarray(image[..., :3] if image.ndim == 3 else image)
        if image.ndim == 2:
            pictures[f"{name} inverted"] = 255 - pictures[name]
    return {**pictures, **_drawings()}


def _png(pixels: npt.NDArray[np.uint8]) -> bytes:
    bgr = pixels[:, :, ::-1] if pixels.ndim == 3 else pixels
    return bytes(cv2.imencode(".png", np.ascontiguousarray(bgr))[1].tobytes())


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LiteRtMriModel:
    root = tmp_path_factory.mktemp("mri-abstention")
    generate_mri(root / "data", count=150, seed=5, size=128)
    train_mri(root / "data", root / "model", seed=0, epochs=15, batch_size=32, progress=False)
    return LiteRtMriModel.load(root / "model", ModelVersion(MRI_MODEL, 1))


def _classified(model: LiteRtMriModel, pictures: list[npt.NDArray[np.uint8]]) -> list[object]:
    return list(classify_each([read_mri(_png(p), max_pixels=10**8) for p in pictures], model))


def test_no_photograph_document_or_drawing_gets_a_confident_label(model: LiteRtMriModel) -> None:
    pictures = _not_mri()

    results = _classified(model, list(pictures.values()))

    confident = {name: (r.label, r.probability) for name, r in zip(pictures, results, strict=True)
                 if isinstance(r, MriPrediction) and r.label != "uncertain" and (r.probability or 0) >= 0.8}
    assert confident == {}
    uncertain = [r for r in results if isinstance(r, MriPrediction) and r.label == "uncertain"]
    assert uncertain, "every picture was refused before the model: the abstention path went untested"
    for answer in uncertain:
        assert answer.out_of_distribution and answer.probability is None and answer.tumor_probability is None
        assert answer.ood_reason and answer.ood_threshold == model.ood_threshold


def test_at_least_95_percent_of_held_out_slices_are_answered(
    model: LiteRtMriModel, tmp_path: Path
) -> None:
    generate_mri(tmp_path, count=60, seed=1000, size=128)
    files = sorted(tmp_path.glob("*/*.png"))

    results = _classified(model, [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files])

    answered = [r for r in results if isinstance(r, MriPrediction) and not r.out_of_distribution]
    assert len(answered) >= 0.95 * len(files)
    assert all(r.probability is not None and r.label in ("tumor", "healthy") for r in answered)
