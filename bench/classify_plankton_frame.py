"""A 2048x2048 plankton frame with ~100 objects served end to end, and the random forest's share of it.

The frame is drawn by ``synthetic_plankton.plankton_frame`` (20 objects of each of the five
categories, fixed seed) and sent as a raw PNG body (``Content-Type: image/png``) with a real
admin token to ``POST /api/v1/classify/plankton`` of the suite as ``make run`` starts it (rate
limit off), via the gateway and direct, one request at a time and two at a time (a fixed number
of requests from as many threads: a request takes about a second on two cores): latency p50/p99,
frames/s and objects/s.

In the same run and process, with the same loaded model (``OnnxPlanktonModel`` from the store),
the request's parts are timed alone on that frame: PNG decoding, segmentation + measurement
(``PlanktonSegmentation().extract``: the shared ``specimen_imaging`` pipeline), the forest
(``class_probabilities`` on the frame's feature rows) and the whole ``classify_frame``. The
forest's share is its time over the served request's p50.

The forest is the one the default bootstrap trains: ``train_plankton`` on 24 generated frames
(960 crops, 100 trees), trained in this run (``--model-dir`` serves an existing store instead,
and skips the next part). The trainer keeps no scikit-learn object, so the bench refits the same
forest from the same crops, split and parameters as the trainer does, checks that its
``predict_proba`` equals the served ONNX model's probabilities on the frame's rows, and times
both runtimes on one row and on all the frame's rows.

    .venv/bin/python bench/classify_plankton_frame.py [--frames 12] [--concurrency 1 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import numpy.typing as npt
from classify_mri_served import admin_suite, admin_token, prepare_store
from gateway_overhead import Result
from segment_served import busy_cores

from specimen_classify.adapters.datasets import generate_plankton
from specimen_classify.adapters.forest_runtime import OnnxPlanktonModel
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.domain import dedup
from specimen_classify.domain.plankton.classify import classify_frame
from specimen_classify.domain.plankton.crops import crop_groups
from specimen_classify.domain.plankton.segmentation import PlanktonSegmentation
from specimen_classify.domain.predictions import PLANKTON_MODEL, ModelVersion
from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame
from specimen_imaging.codecs import decode_image

PATH = "/api/v1/classify/plankton"
SIDE = 2048
PER_CATEGORY = 20
FRAME_SEED = 11
"""Seed of the benchmark frame; the training frames are seed 0's."""
TRAINING_FRAMES = 24
"""As ``DefaultTraining.plankton_frames``: the forest a fresh suite serves."""
MAX_SAME_FOREST_DIFF = 1e-5


def stage_times(png: bytes, pixels: npt.NDArray[Any], options: PlanktonSegmentation, model: OnnxPlanktonModel,
                features: npt.NDArray[np.float64], repeats: int) -> dict[str, float]:
    """Median ms of each part of the request, the parts timed in turn in every round.

    In turn, so that other work on the machine slows every part alike rather than one.
    """
    parts: dict[str, Callable[[], Any]] = {
        "decode": lambda: decode_image(png),
        "extract": lambda: options.extract(pixels),
        "forest": lambda: model.class_probabilities(features),
        "forest_one": lambda: model.class_probabilities(features[:1]),
        "classify_frame": lambda: classify_frame(pixels, model, options),
    }
    inner = {"forest": 20, "forest_one": 20}  # sub-millisecond: a few calls per round
    times: dict[str, list[float]] = {name: [] for name in parts}
    for round_ in range(repeats + 1):
        for name, call in parts.items():
            for _ in range(inner.get(name, 1)):
                started = time.perf_counter()
                call()
                if round_:  # round 0 warms up
                    times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values) * 1000) for name, values in times.items()}


def post_frames(url: str, png: bytes, headers: dict[str, str], concurrency: int, frames: int) -> Result:
    """POST the frame ``frames`` times from ``concurrency`` threads; frames/s, p50/p99, non-200s.

    A fixed count rather than a fixed time: a request takes about a second here, and a timed
    run would drop the requests still in flight at its end.
    """
    latencies: list[float] = []
    errors = 0

    def worker(count: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=300.0) as client:
            for _ in range(count):
                sent = time.perf_counter()
                response = client.post(url, content=png, headers=headers)
                latencies.append(time.perf_counter() - sent)
                errors += response.status_code != 200

    shares = [frames // concurrency + (i < frames % concurrency) for i in range(concurrency)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, shares))
    elapsed = time.perf_counter() - started
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return Result(frames / elapsed, float(p50), float(p99), errors)


def sklearn_ms(forest: Any, rows: npt.NDArray[np.float32], repeats: int) -> float:
    forest.predict_proba(rows)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        forest.predict_proba(rows)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def train_store(root: Path, workdir: Path) -> Path:
    """The default-sized forest (and a small MRI model, for readiness); the crops' folder."""
    from specimen_classify.training.plankton import train_plankton

    data = workdir / "plankton"
    generate_plankton(data, TRAINING_FRAMES, 0)
    store = ModelStore(root)
    staged = store.staging_dir()
    train_plankton(data / "objects", staged, seed=0, progress=False)
    store.register(PLANKTON_MODEL, staged, activate=True, by="bench")
    prepare_store(root)  # trains only what is missing: the MRI model
    return data / "objects"


def same_forest(objects: Path, card: dict[str, Any], rows: npt.NDArray[np.float64],
                served: npt.NDArray[np.float64]) -> tuple[Any, float]:
    """The trainer's forest refitted with scikit-learn (same crops, split, parameters, seed)."""
    from sklearn.ensemble import RandomForestClassifier

    from specimen_classify.training.plankton import load_dataset

    data = load_dataset(objects, progress=False)
    seed = card["split"]["seed"]
    groups = crop_groups(data.hashes, data.sizes)
    train_idx, _, _ = dedup.split_groups(groups, data.targets, card["split"]["fractions"], seed)
    forest = RandomForestClassifier(**card["forest"]["params"], n_jobs=1)
    forest.fit(data.features[train_idx], data.targets[train_idx])
    diff = float(np.max(np.abs(forest.predict_proba(rows.astype(np.float32)) - served)))
    return forest, diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=12, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=10, help="in-process timings per stage")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="serve this model store (default: train the default forest in this run)")
    parser.add_argument("--log-level", default="INFO", help="services' log level (access log: INFO)")
    args = parser.parse_args()

    frame = plankton_frame(FRAME_SEED, dict.fromkeys(CATEGORIES, PER_CATEGORY), SIDE, SIDE)
    ok, encoded = cv2.imencode(".png", frame.image)
    if not ok:
        raise RuntimeError("OpenCV could not encode the frame as PNG")
    png = encoded.tobytes()

    rows: list[tuple[int, Result, Result]] = []
    with tempfile.TemporaryDirectory(prefix="specimen-bench-") as tmp:
        workdir = Path(tmp)
        model_dir = args.model_dir or workdir / "models"
        objects = None if args.model_dir else train_store(model_dir, workdir)
        store = ModelStore(model_dir)
        version = store.active_version(PLANKTON_MODEL)
        if version is None:
            raise SystemExit(f"{model_dir} holds no {PLANKTON_MODEL} model")
        model = OnnxPlanktonModel.load(store.version_dir(PLANKTON_MODEL, version),
                                       ModelVersion(PLANKTON_MODEL, version))
        card = store.card(PLANKTON_MODEL, version)

        # The request's parts alone, in this process, on this frame.
        pixels = decode_image(png).pixels
        options = PlanktonSegmentation()
        _, measured = options.extract(pixels)
        features = measured.features
        expected = classify_frame(pixels, model, options)
        stage = stage_times(png, pixels, options, model, features, args.repeats)
        sklearn_note = "skipped: --model-dir serves a forest this run did not train"
        if objects is not None:
            forest, diff = same_forest(objects, card, features, model.class_probabilities(features))
            if diff <= MAX_SAME_FOREST_DIFF:
                batch = features.astype(np.float32)
                sk_all = sklearn_ms(forest, batch, args.repeats * 3)
                sk_one = sklearn_ms(forest, batch[:1], args.repeats * 3)
                sklearn_note = (
                    f"same forest ({card['forest']['params']['n_estimators']} trees, "
                    f"{card['forest']['nodes']:,} nodes, ONNX {card['export']['bytes'] / 1e6:.2f} MB; "
                    f"refitted predict_proba equals the served probabilities within {diff:.1e}): "
                    f"one row sklearn {sk_one:.2f} ms vs ONNX Runtime {stage['forest_one']:.3f} ms "
                    f"(**{sk_one / stage['forest_one']:,.0f}x**); {len(features)} rows sklearn "
                    f"{sk_all:.2f} ms vs ONNX Runtime {stage['forest']:.3f} ms "
                    f"(**{sk_all / stage['forest']:,.0f}x**)")
            else:
                sklearn_note = f"skipped: the refitted forest differs from the served one by {diff:.3g}"

        busy_before = busy_cores()
        suite, password = admin_suite(workdir, model_dir, args.log_level)
        try:
            suite.start()
            headers = {**admin_token(suite, password), "Content-Type": "image/png"}
            for base in (suite.url("classify"), suite.url("gateway")):
                answer = httpx.post(base + PATH, content=png, headers=headers, timeout=120.0)
                if answer.status_code != 200:
                    raise SystemExit(f"{base + PATH}: {answer.status_code} {answer.text[:500]}")
                served = answer.json()
                if [o["category"] for o in served["objects"]] != [o.category for o in expected]:
                    raise SystemExit(f"{base + PATH}: other categories than classify_frame in-process")
            for concurrency in args.concurrency:
                measured_loads = []
                for base in (suite.url("classify"), suite.url("gateway")):
                    post_frames(base + PATH, png, headers, concurrency, concurrency)  # warm-up
                    measured_loads.append(post_frames(base + PATH, png, headers, concurrency, args.frames))
                rows.append((concurrency, *measured_loads))
        finally:
            suite.stop()
        busy_after = busy_cores()

    found = len(expected)
    counts = {c: sum(o.category == c for o in expected) for c in (*model.classes, "unclear")}
    print(f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python "
          f"{platform.python_version()}, OpenCV {cv2.__version__} at {cv2.getNumThreads()} threads; frame "
          f"{SIDE}x{SIDE} gray PNG {len(png) / 1e6:.1f} MB, {len(frame.objects)} objects drawn, "
          f"{found} found; model {PLANKTON_MODEL} v{version}; load: {args.frames} requests per run from "
          f"as many httpx threads as the concurrency, after one request per thread to warm up, raw "
          f"image/png, real token; other work on the machine just before: {busy_before:.2f} cores busy, "
          f"just after: {busy_after:.2f}\n")
    header = ("| concurrency | frames/s direct | frames/s via gateway | **objects/s via gateway** | "
              "p50 / p99 direct | **p50 / p99 via gateway** | errors |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for concurrency, direct, via in rows:
        print(f"| {concurrency} | {direct.requests_per_second:.2f} | {via.requests_per_second:.2f} | "
              f"**{via.requests_per_second * found:,.0f}** | {direct.p50_ms:.0f} / {direct.p99_ms:.0f} ms | "
              f"**{via.p50_ms:.0f} / {via.p99_ms:.0f} ms** | {direct.errors + via.errors} |")
    served_p50 = rows[0][2].p50_ms
    print(f"\n| part, in this process (medians) | ms | share of `classify_frame` in-process | share of the "
          f"served request (p50 via gateway, c={rows[0][0]}: {served_p50:.0f} ms) |")
    print("|---|---|---|---|")
    for label, key in (("PNG decode", "decode"),
                       ("segmentation + measurement (`PlanktonSegmentation().extract`)", "extract"),
                       (f"random forest, {found} rows (`OnnxPlanktonModel.class_probabilities`)", "forest"),
                       ("whole `classify_frame` (extract + contract check + forest + unclear rule)",
                        "classify_frame")):
        print(f"| {label} | {stage[key]:.3f} | {stage[key] / stage['classify_frame']:.2%} | "
              f"{stage[key] / served_p50:.2%} |")
    print(f"\n- categories found: {', '.join(f'{c} {n}' for c, n in counts.items())}")
    rest = served_p50 - stage["decode"] - stage["classify_frame"]
    print(f"- served p50 less in-process decode + classify_frame (HTTP body, JSON of {found} objects "
          f"with all measurements and scores, gateway): {rest:+.0f} ms (negative or erratic when other "
          f"work shared the CPU)")
    print(f"- forest, scikit-learn vs ONNX Runtime: {sklearn_note}")


if __name__ == "__main__":
    main()
