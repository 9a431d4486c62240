"""Segment algorithms against their scikit-image / SciPy equivalents, ratios measured in one run.

Run: ``.venv/bin/python bench/segment_algorithms.py``. Prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.measure import regionprops_table
from skimage.morphology import disk
from skimage.segmentation import slic

from specimen_imaging.measurements import FEATURE_NAMES, measure_objects
from specimen_imaging.objects import find_objects
from specimen_imaging.thresholding import ThresholdParams, threshold_mask
from specimen_segment.domain.segmentation_quality import boundary_recall, undersegmentation_error
from specimen_segment.domain.superpixels import SlicParams, slic_labels

_PROPS = {
    "area": "area",
    "perimeter": "perimeter",
    "equivalent_diameter": "equivalent_diameter_area",
    "major_axis_length": "axis_major_length",
    "minor_axis_length": "axis_minor_length",
    "eccentricity": "eccentricity",
    "orientation": "orientation",
    "solidity": "solidity",
    "extent": "extent",
    "feret_diameter_max": "feret_diameter_max",
    "intensity_mean": "intensity_mean",
    "intensity_std": "intensity_std",
    "intensity_min": "intensity_min",
    "intensity_max": "intensity_max",
}


def best_of(fn: Callable[[], Any], repeat: int = 7) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def n_segments_for(segment: Callable[[int], np.ndarray], target: int, tries: int = 8) -> tuple[int, int]:
    """The ``n_segments`` request (and its count) that makes ``segment`` produce closest to ``target``.

    Secant-free proportional search: deterministic, a few calls, keeps the closest seen.
    """
    n, seen = target, {}
    for _ in range(tries):
        if n in seen:
            break
        seen[n] = int(segment(n).max()) + 1
        n = max(1, round(n * target / max(seen[n], 1)))
    best = min(seen, key=lambda k: (abs(seen[k] - target), k))
    return best, seen[best]


def voronoi_image(seed: int = 0, size: int = 512, regions: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, (regions, 2))
    rows, cols = np.mgrid[:size, :size]
    truth = np.zeros((size, size), np.int64)
    best = np.full((size, size), np.inf)
    for k, (pr, pc) in enumerate(points):
        d = (rows - pr) ** 2 + (cols - pc) ** 2
        truth[d < best] = k
        best = np.minimum(best, d)
    colors = rng.integers(0, 256, (regions, 3))
    img = np.clip(colors[truth] + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
    return img, truth


def plankton_frame(seed: int = 0, size: int = 1024, count: int = 330) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(count):
        r, c = rng.integers(20, size - 20, 2)
        a, b = rng.integers(3, 16, 2)
        cv2.ellipse(mask, (int(c), int(r)), (int(a), int(b)), float(rng.uniform(0, 180)), 0, 360, 255, -1)
    gray = np.clip(200 - 0.6 * mask + rng.normal(0, 10, mask.shape), 0, 255).astype(np.uint8)
    return mask > 0, gray


def main() -> None:
    rows: list[tuple[str, str, str, str]] = []

    img, truth = voronoi_image()
    for target in (100, 400):
        # Both requests are tuned so that both produce about `target` superpixels: scikit-image
        # makes far fewer than it is asked for (55 for 100 here), and recall grows with count.
        n_us, _ = n_segments_for(lambda n: slic_labels(img, SlicParams(n_segments=n)), target)
        n_sk, _ = n_segments_for(lambda n: slic(img, n_segments=n, start_label=0), target)
        t_us, us = best_of(lambda n=n_us: slic_labels(img, SlicParams(n_segments=n)))
        t_sk, sk = best_of(lambda n=n_sk: slic(img, n_segments=n, start_label=0), 3)
        rows.append(
            (
                f"SLIC 512x512 RGB, ~{target} superpixels (n_segments {n_us} / {n_sk})",
                f"{t_us * 1e3:.1f} ms ({us.max() + 1} sp)",
                f"{t_sk * 1e3:.1f} ms ({sk.max() + 1} sp)",
                f"**{t_sk / t_us:.1f}x**; boundary recall (2 px) {boundary_recall(truth, us):.3f} vs "
                f"{boundary_recall(truth, sk):.3f}; undersegmentation error "
                f"{undersegmentation_error(truth, us):.3f} vs {undersegmentation_error(truth, sk):.3f}",
            )
        )

    mask, gray = plankton_frame()
    labels = find_objects(mask).labels
    props = [*_PROPS.values(), "moments_hu", "bbox", "centroid"]
    t_us, ours = best_of(lambda: measure_objects(labels, gray), 5)
    t_sk, ref = best_of(lambda: regionprops_table(labels, gray, properties=props), 3)
    diff = max(float(np.abs(ours.column(f) - ref[p]).max()) for f, p in _PROPS.items())
    diff = max(
        diff,
        *(float(np.abs(ours.column(f"hu_moment_{i + 1}") - ref[f"moments_hu-{i}"]).max()) for i in range(7)),
    )
    rows.append(
        (
            f"measurements, 1024x1024, {int(labels.max())} objects, {len(FEATURE_NAMES)} features",
            f"{t_us * 1e3:.1f} ms",
            f"{t_sk * 1e3:.1f} ms",
            f"**{t_sk / t_us:.1f}x**; max abs difference {diff:.1e}",
        )
    )

    frame = cv2.resize(gray, (512, 512), interpolation=cv2.INTER_AREA)
    params = ThresholdParams(polarity="dark-on-light", opening_radius=2, closing_radius=2)

    def scipy_way() -> np.ndarray:
        m = frame <= threshold_otsu(frame)
        m = ndimage.binary_opening(m, disk(2))
        return ndimage.binary_closing(m, disk(2))

    t_us, _ = best_of(lambda: threshold_mask(frame, params), 20)
    t_sk, _ = best_of(scipy_way, 7)
    rows.append(
        (
            "Otsu + opening(2) + closing(2), 512x512 gray",
            f"{t_us * 1e3:.2f} ms",
            f"{t_sk * 1e3:.2f} ms",
            f"**{t_sk / t_us:.1f}x**",
        )
    )

    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} OpenCV threads\n")
    print("| case | specimen | scikit-image / SciPy | ratio and quality (ours vs reference) |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
