"""Plankton object search (issue 14): which object descriptor ranks same-category objects first.

    OMP_NUM_THREADS=1 nice -n 15 python bench/plankton_object_search.py fit
    OMP_NUM_THREADS=1 nice -n 15 python bench/plankton_object_search.py quality
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15 python bench/plankton_object_search.py latency

``fit``: the features part's median and spread (``object_descriptor_basis.json``) from
vignettes of classify's *training* generator (``plankton_vignette``, ``TRAINING_VARIETY``,
seeds ``(7100, category, i)``). ``quality``: precision@5 by category (each object's 5 nearest others,
itself left out) of the image part alone, the features part alone and their weighted
concatenations, on (a) other training-generator vignettes (seeds ``(7200, category, i)``; each described
as the search's uploaded-crop query is: the organism found by ``crop_object``, its mask) and
(b) objects cut out of generated frames (``plankton_frame``, their true masks, as a run stores
them), against the random baseline (the sum of the squared category shares). Also the cost of
one descriptor. ``latency``: exact search over a project of 10k, 100k and 500k objects.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from specimen_classify.domain.plankton import object_similarity as objects
from specimen_classify.domain.plankton.crops import crop_object
from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame, plankton_vignette
from specimen_imaging.measurements import measure_objects


def vignette_parts(seed: int, per_category: int, basis: objects.FeatureBasis | None = None
                   ) -> tuple[list[np.ndarray], list[np.ndarray], list[str], list[float]]:
    images, feats, labels, cost = [], [], [], []
    for c, category in enumerate(CATEGORIES):
        for i in range(per_category):
            v = plankton_vignette((seed, c, i), category)
            found = crop_object(v.image)
            if found is None or found.mask is None or found.mask.sum() < 4:
                continue
            start = time.process_time()
            gray = objects.dark_on_light_gray(v.image, found.bright_on_dark)
            if basis is None:
                rows = np.flatnonzero(found.mask.any(axis=1))
                cols = np.flatnonzero(found.mask.any(axis=0))
                window = np.s_[rows[0]:rows[-1] + 2, cols[0]:cols[-1] + 2]
                feats.append(measure_objects(found.mask[window].astype(np.int32), gray[window],
                                             objects.FEATURE_SET).features[0])
            else:
                image, feature = objects.region_parts(gray, found.mask, basis)
                images.append(image)
                feats.append(feature)
            cost.append(time.process_time() - start)
            labels.append(category)
    return images, feats, labels, cost


def frame_parts(basis: objects.FeatureBasis) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    images, feats, labels = [], [], []
    for seed in range(4):
        frame = plankton_frame((4343, seed), height=768, width=768)
        gray = objects.dark_on_light_gray(frame.image)
        for item in frame.objects:
            r0, c0, r1, c1 = item.bbox
            r0, c0 = max(r0 - 2, 0), max(c0 - 2, 0)
            mask = frame.labels[r0:r1 + 2, c0:c1 + 2] == item.object_id
            image, feature = objects.region_parts(gray[r0:r1 + 2, c0:c1 + 2], mask, basis)
            images.append(image)
            feats.append(feature)
            labels.append(item.category)
    return images, feats, labels


def precision_at_5(vectors: np.ndarray, labels: np.ndarray) -> float:
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    top = np.argsort(-scores, axis=1)[:, :5]
    return round(float(np.mean(labels[top] == labels[:, None])), 4)


def evaluate(images: list[np.ndarray], feats: list[np.ndarray], labels_list: list[str]) -> dict[str, Any]:
    labels = np.array(labels_list)
    shares = np.unique(labels, return_counts=True)[1] / len(labels)
    out: dict[str, Any] = {"objects": len(labels), "random_baseline": round(float((shares ** 2).sum()), 4)}
    image, feature = np.stack(images), np.stack(feats)
    for weight in (1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.0):
        vectors = np.stack([objects.combine(i, f, weight) for i, f in zip(image, feature, strict=True)])
        out[f"p5_image_weight_{weight}"] = precision_at_5(vectors, labels)
    return out


def latency() -> dict[str, Any]:
    """CPU ms (p50/p99) of one exact search (``rank_objects``, top 10) over n generated unit
    vectors of the object descriptor's length, without and with a filter keeping half."""
    out: dict[str, Any] = {"dimensions": objects.DIMENSIONS}
    rng = np.random.default_rng(0)
    for n in (10_000, 100_000, 500_000):
        vectors = rng.normal(size=(n, objects.DIMENSIONS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        allowed = rng.uniform(size=n) < 0.5
        for label, mask in (("all", None), ("filtered_half", allowed)):
            times = []
            for q in range(30):
                start = time.process_time()
                objects.rank_objects(vectors[q], vectors, mask, 10)
                times.append(time.process_time() - start)
            ms = np.asarray(times) * 1000
            out[f"{n}_{label}"] = {"p50_ms": round(float(np.percentile(ms, 50)), 2),
                                   "p99_ms": round(float(np.percentile(ms, 99)), 2)}
        out[f"{n}_MB"] = round(vectors.nbytes / 1e6, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("fit", "quality", "latency"))
    parser.add_argument("--per-category", type=int, default=60)
    args = parser.parse_args()
    if args.what == "fit":
        _, rows, labels, _ = vignette_parts(7100, args.per_category)
        basis = objects.fit_feature_basis(np.stack(rows))
        objects.save_feature_basis(basis)
        print(json.dumps({"fitted_on": len(labels), "file": str(objects.BASIS_FILE)}))
        return
    if args.what == "latency":
        print(json.dumps(latency(), indent=1))
        return
    basis = objects.default_feature_basis()
    images, feats, labels, cost = vignette_parts(7200, args.per_category, basis)
    result = {"vignettes": evaluate(images, feats, labels),
              "descriptor_cpu_ms_p50": round(float(np.median(cost)) * 1000, 2)}
    result["frame_objects"] = evaluate(*frame_parts(basis))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
