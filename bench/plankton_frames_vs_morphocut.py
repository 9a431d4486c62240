"""Frames per second per core: Specimen's frame pipeline against MorphoCut 0.1.2, same frames.

Both read the same generated 1024x1024 frames (``synthetic_plankton.plankton_frame``,
``--per-category`` objects of each of the five categories, 8 by default, seeds ``(12, i)``) as PNG
files from one folder, pinned to one CPU
(``sched_setaffinity``, every BLAS/OpenMP/OpenCV pool at one thread), and write an EcoTaxa ZIP
(PNG crops + TSV):

* **Specimen**: decode, ``classify_frame`` (flat-field correction, Otsu threshold, closing,
  border objects dropped, feature set 2 measurements, the random forest; the run defaults), a
  PNG crop per object (10 px padding), rows streamed into ``write_ecotaxa_zip``.
* **MorphoCut** (``bench/morphocut_frames.py`` in ``.venv-morphocut``, created here when missing),
  two pipelines (``--morphocut``), neither classifying:

  - ``constant``: ``ImageReader``, ``ThresholdConst`` (constant threshold 150: 0.03 % of the
    background under it), ``FindRegions`` (min area 10), ``ExtractROI``,
    ``CalculateZooProcessFeatures``, ``EcotaxaWriter``: MorphoCut's cheapest pipeline, with no
    vignetting correction (less work than Specimen's run does);
  - ``flat-otsu``: the sHIP seed's pipeline, the same steps as Specimen's run: MorphoCut's
    ``VignettingCorrector`` first, then objects darker than Otsu's threshold, then as above.

Object recall against the generator's truth: a truth object is found when one object's box
overlaps its box with IoU >= 0.5. Timed: the pipeline only (imports and the forest's training
excluded), best of ``--repeats``; each pipeline in a fresh process of its own, its second pass
over the frames (the first, untimed, pays the libraries' one-off set-up).

``--before DIR`` also times Specimen's pipeline from another source tree (``DIR/libs/*``,
``DIR/services/*``: e.g. ``git archive <commit> libs services | tar -x -C DIR``) the same way,
on the same frames, model and CPU, after each repeat of this tree's, so that a speed-up is
measured before/after in one run; its boxes are checked against this tree's.

    .venv/bin/python bench/plankton_frames_vs_morphocut.py [--frames 8] [--repeats 3] [--per-category 8]
        [--before DIR]

The ratio depends on how crowded the frames are: both pipelines pay per frame (decoding,
thresholding) and per object (measurements, crops, rows), in other proportions; run it at
several ``--per-category`` (8, 20, 40, 60: 40 to 300 objects per frame).
"""

from __future__ import annotations

import os

for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_pool] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

from specimen_classify.adapters.datasets import generate_plankton  # noqa: E402
from specimen_classify.adapters.ecotaxa_archive import write_ecotaxa_zip  # noqa: E402
from specimen_classify.adapters.forest_runtime import OnnxPlanktonModel  # noqa: E402
from specimen_classify.domain.plankton.classify import classify_frame  # noqa: E402
from specimen_classify.domain.plankton.ecotaxa import (  # noqa: E402
    EcotaxaLayout,
    EcotaxaProject,
    EcotaxaRow,
    image_name,
)
from specimen_classify.domain.plankton.ecotaxa_import import check_ecotaxa_tsv  # noqa: E402
from specimen_classify.domain.plankton.segmentation import PlanktonSegmentation  # noqa: E402
from specimen_classify.domain.predictions import PLANKTON_MODEL, ModelVersion  # noqa: E402
from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame  # noqa: E402
from specimen_imaging.codecs import decode_image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MORPHOCUT_VENV = ROOT / ".venv-morphocut"
MORPHOCUT_PINS = (
    "morphocut==0.1.2", "scikit-image==0.20.0", "numpy<2", "pandas<2.3", "opencv-python-headless<4.11",
)
MORPHOCUT_PIPELINES = {
    "constant": "MorphoCut 0.1.2 (constant threshold, no vignetting correction, ZooProcess features, "
                "EcoTaxa ZIP)",
    "flat-otsu": "MorphoCut 0.1.2, the seed's pipeline (VignettingCorrector, Otsu threshold, ZooProcess "
                 "features, EcoTaxa ZIP)",
}
THRESHOLD = 150
MIN_AREA = 10
PADDING = 10
FRAME_SEED = 12
Box = tuple[int, int, int, int]


def morphocut_python() -> Path:
    """The MorphoCut venv's interpreter, creating the venv (Python 3.11) when missing."""
    python = MORPHOCUT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["python3.11", "-m", "venv", str(MORPHOCUT_VENV)], check=True)
        subprocess.run([str(MORPHOCUT_VENV / "bin" / "pip"), "install", "-q", *MORPHOCUT_PINS], check=True)
    return python


def iou(a: Box, b: Box) -> float:
    rows = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    cols = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = rows * cols
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def recall(truth: dict[str, list[Box]], found: dict[str, list[Box]]) -> tuple[int, int, int]:
    """(truth objects found, truth objects, objects matching no truth object)."""
    hits = total = spurious = 0
    for frame, boxes in truth.items():
        detected = found.get(frame, [])
        total += len(boxes)
        hits += sum(any(iou(t, d) >= 0.5 for d in detected) for t in boxes)
        spurious += sum(not any(iou(t, d) >= 0.5 for t in boxes) for d in detected)
    return hits, total, spurious


def categories_right(truth: dict[str, list[tuple[Box, str]]],
                     found: dict[str, list[tuple[Box, str]]]) -> tuple[int, int]:
    """(truth objects found whose best-overlapping object got their category, truth objects found)."""
    right = hits = 0
    for frame, objects in truth.items():
        detected = found.get(frame, [])
        for box, category in objects:
            overlaps = [iou(box, d) for d, _ in detected]
            if overlaps and max(overlaps) >= 0.5:
                hits += 1
                right += detected[overlaps.index(max(overlaps))][1] == category
    return right, hits


def train_model(workdir: Path) -> OnnxPlanktonModel:
    """The default forest (100 trees) on 6 generated training frames (seed 0: not the bench's)."""
    from specimen_classify.training.plankton import train_plankton

    generate_plankton(workdir / "train", frames=6, seed=0)
    version_dir = workdir / "model"
    train_plankton(workdir / "train" / "objects", version_dir, seed=0, progress=False)
    return OnnxPlanktonModel.load(version_dir, ModelVersion(PLANKTON_MODEL, 1))


def specimen_run(frames: Sequence[Path], model: OnnxPlanktonModel,
                 out: Path) -> tuple[float, float, dict[str, list[Box]], float, dict[str, list[str]]]:
    """Wall and CPU seconds of the whole pipeline, the boxes per frame, the CPU seconds in
    ``classify_frame``, the categories per frame (in the boxes' order)."""
    layout = EcotaxaLayout(project=EcotaxaProject(id=1, name="bench"), feature_names=model.feature_names)
    options = PlanktonSegmentation()
    boxes: dict[str, list[Box]] = {}
    categories: dict[str, list[str]] = {}
    crops: dict[str, bytes] = {}
    in_classify = 0.0

    def rows() -> Iterator[EcotaxaRow]:
        nonlocal in_classify
        pk = 0
        for path in frames:
            pixels = decode_image(path.read_bytes()).pixels
            started = time.process_time()
            found = classify_frame(pixels, model, options)
            in_classify += time.process_time() - started
            boxes[path.name] = [obj.bbox for obj in found]
            categories[path.name] = [obj.category for obj in found]
            for rank, obj in enumerate(found, start=1):
                pk += 1
                r0, c0, r1, c1 = obj.bbox
                crop = pixels[max(0, r0 - PADDING):r1 + PADDING, max(0, c0 - PADDING):c1 + PADDING]
                _, png = cv2.imencode(".png", crop)
                row = EcotaxaRow(
                    object_pk=pk, rank=rank, frame_file_name=path.name, bbox=obj.bbox, centroid=obj.centroid,
                    features=obj.features, feature_set_version=model.feature_set_version,
                    category=obj.category, probability=obj.probability, status="predicted",
                    model_name=PLANKTON_MODEL, model_version="1")
                crops[image_name(row)] = png.tobytes()
                yield row

    started, cpu_started = time.perf_counter(), time.process_time()
    with out.open("wb") as target:
        write_ecotaxa_zip(target, rows(), layout, lambda row: crops.pop(image_name(row)))
    return time.perf_counter() - started, time.process_time() - cpu_started, boxes, in_classify, categories


def morphocut_run(python: Path, frames_dir: Path, out: Path,
                  pipeline: str) -> tuple[float, float, dict[str, list[Box]]]:
    env = {**os.environ, "PYTHONPATH": ""}
    command = [str(python), str(ROOT / "bench" / "morphocut_frames.py"), str(frames_dir), str(out),
               str(THRESHOLD), str(MIN_AREA), pipeline]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    boxes: dict[str, list[Box]] = {}
    for name, r0, c0, r1, c1 in report["boxes"]:
        boxes.setdefault(name, []).append((r0, c0, r1, c1))
    return float(report["seconds"]), float(report["cpu_seconds"]), boxes


def source_path(tree: Path) -> str:
    """PYTHONPATH of a source tree's packages (as ``/work/wt/env.sh`` sets it for a worktree)."""
    roots = sorted(p for p in [*(tree / "libs").glob("*"), *(tree / "services").glob("*")] if p.is_dir())
    return os.pathsep.join(str(p) for p in roots)


def child_run(tree: Path, frames: Sequence[Path], model_dir: Path, out: Path,
              cpu: int) -> tuple[float, float, dict[str, list[Box]], float, dict[str, list[str]]]:
    """``specimen_run`` of the code in ``tree``, in a fresh child process on the same CPU.

    This tree's pipeline is timed so too, as MorphoCut's is: in the process that generated the
    frames and trained the forest, the same code measured ~12 % more CPU per frame (1.13 against
    1.01 s for 8 frames of 200 objects, 2026-12-07)."""
    env = {**os.environ, "PYTHONPATH": source_path(tree)}
    command = [sys.executable, str(Path(__file__).resolve()), "--specimen-only", str(model_dir), str(out),
               "--cpu", str(cpu), *map(str, frames)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    boxes = {name: [tuple(b) for b in found] for name, found in report["boxes"].items()}
    return (report["seconds"], report["cpu_seconds"], boxes,
            report["in_classify"], report["categories"])


def specimen_only(argv: list[str]) -> None:
    """The child of :func:`child_run`: ``specimen_run`` with the code on PYTHONPATH, one JSON line."""
    model_dir, out, _, cpu, *frames = argv
    os.sched_setaffinity(0, {int(cpu)})
    cv2.setNumThreads(1)
    model = OnnxPlanktonModel.load(Path(model_dir), ModelVersion(PLANKTON_MODEL, 1))
    # A first untimed pass, as MorphoCut's: the libraries' one-off set-up (OpenCV's Lab tables,
    # the ONNX session's first run, lazy imports) is not a frame's cost in a running worker.
    specimen_run([Path(f) for f in frames], model, Path(out))
    seconds, cpu_seconds, boxes, in_classify, categories = specimen_run(
        [Path(f) for f in frames], model, Path(out))
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "boxes": boxes,
                      "in_classify": in_classify, "categories": categories}))


def main() -> None:
    if sys.argv[1:2] == ["--specimen-only"]:
        specimen_only(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-category", type=int, default=8,
                        help="objects of each of the five categories per frame (8: 40 objects per frame)")
    parser.add_argument("--cpu", type=int, default=0, help="the one CPU both pipelines run on")
    parser.add_argument("--before", type=Path, default=None,
                        help="also time Specimen's pipeline from this source tree (libs/, services/)")
    parser.add_argument("--morphocut", default=",".join(MORPHOCUT_PIPELINES),
                        help="MorphoCut pipelines to run, comma-separated (default: all)")
    args = parser.parse_args()
    if args.per_category < 1:
        parser.error("--per-category: at least 1")
    pipelines = args.morphocut.split(",")
    if not pipelines or any(name not in MORPHOCUT_PIPELINES for name in pipelines):
        parser.error(f"--morphocut: a comma-separated choice of {', '.join(MORPHOCUT_PIPELINES)}")
    os.sched_setaffinity(0, {args.cpu})
    cv2.setNumThreads(1)
    python = morphocut_python()

    with tempfile.TemporaryDirectory(prefix="specimen-bench-") as tmp:
        workdir = Path(tmp)
        frames_dir = workdir / "frames"
        frames_dir.mkdir()
        truth: dict[str, list[Box]] = {}
        truth_categories: dict[str, list[tuple[Box, str]]] = {}
        paths = []
        for index in range(args.frames):
            frame = plankton_frame((FRAME_SEED, index), dict.fromkeys(CATEGORIES, args.per_category))
            path = frames_dir / f"frame_{index:03d}.png"
            cv2.imwrite(str(path), frame.image)
            truth[path.name] = [obj.bbox for obj in frame.objects]
            truth_categories[path.name] = [(obj.bbox, obj.category) for obj in frame.objects]
            paths.append(path)
        train_model(workdir)

        specimen_times, classify_times, specimen_cpu = [], [], []
        morphocut_times: dict[str, list[float]] = {name: [] for name in pipelines}
        morphocut_cpu: dict[str, list[float]] = {name: [] for name in pipelines}
        morphocut_boxes: dict[str, dict[str, list[Box]]] = {}
        before_times: list[float] = []
        before_cpu: list[float] = []
        before_classify: list[float] = []
        before_boxes: dict[str, list[Box]] = {}
        before_categories: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            seconds, cpu, specimen_boxes, in_classify, specimen_categories = child_run(
                ROOT, paths, workdir / "model", workdir / "specimen.zip", args.cpu)
            specimen_times.append(seconds)
            specimen_cpu.append(cpu)
            classify_times.append(in_classify)
            if args.before is not None:
                seconds, cpu, before_boxes, in_classify, before_categories = child_run(
                    args.before, paths, workdir / "model", workdir / "before.zip", args.cpu)
                before_times.append(seconds)
                before_cpu.append(cpu)
                before_classify.append(in_classify)
            for name in pipelines:
                seconds, cpu, morphocut_boxes[name] = morphocut_run(
                    python, frames_dir, workdir / f"morphocut-{name}.zip", name)
                morphocut_times[name].append(seconds)
                morphocut_cpu[name].append(cpu)

        with zipfile.ZipFile(workdir / "specimen.zip") as archive:
            tsv = next(n for n in archive.namelist() if n.endswith(".tsv"))
            check = check_ecotaxa_tsv(archive.read(tsv), image_names=set(archive.namelist()))
        s_best, s_cpu = min(specimen_times), min(specimen_cpu)
        total = sum(map(len, truth.values()))
        print(f"{args.frames} frames of 1024x1024, {total} truth objects; one CPU "
              f"({platform.processor() or 'cpu'}, "
              f"python {platform.python_version()}); best of {args.repeats}")
        print("| pipeline | wall s (best) | CPU s (best) | CPU s/frame | frames/s per core (CPU) | "
              "recall (IoU >= 0.5) | objects found | matching no truth |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        rows: list[tuple[str, float, float, dict[str, list[Box]]]] = []  # label, wall, CPU, boxes
        if before_cpu:
            rows.append((f"Specimen before ({args.before.name}; same pipeline)", min(before_times),
                         min(before_cpu), before_boxes))
        rows.append(("Specimen (classify_frame + crops + EcoTaxa ZIP)", s_best, s_cpu, specimen_boxes))
        rows += [(MORPHOCUT_PIPELINES[name], min(morphocut_times[name]), min(morphocut_cpu[name]),
                  morphocut_boxes[name]) for name in pipelines]
        for name, best, cpu, found in rows:
            hits, _, extra = recall(truth, found)
            print(f"| {name} | {best:.2f} | {cpu:.2f} | {cpu / args.frames:.3f} | {args.frames / cpu:.2f} | "
                  f"{hits}/{total} ({hits / total:.1%}) | {sum(map(len, found.values()))} | {extra} |")
        for name in pipelines:
            m_best, m_cpu = min(morphocut_times[name]), min(morphocut_cpu[name])
            print(f"Specimen / MorphoCut {name} frames per CPU second: {m_cpu / s_cpu:.1f}x (wall, best: "
                  f"{m_best / s_best:.1f}x); all runs wall specimen {[round(t, 2) for t in specimen_times]} "
                  f"morphocut {[round(t, 2) for t in morphocut_times[name]]}; CPU specimen "
                  f"{[round(t, 2) for t in specimen_cpu]} "
                  f"morphocut {[round(t, 2) for t in morphocut_cpu[name]]}")
        if before_cpu:
            same = ({k: sorted(v) for k, v in before_boxes.items()}
                    == {k: sorted(v) for k, v in specimen_boxes.items()})
            b_best = before_cpu.index(min(before_cpu))
            print(f"Before / after CPU s: {min(before_cpu) / s_cpu:.2f}x faster (classify_frame "
                  f"{before_classify[b_best]:.2f} -> {classify_times[specimen_cpu.index(s_cpu)]:.2f} CPU s); "
                  f"before's MorphoCut ratios "
                  f"{[round(min(morphocut_cpu[n]) / min(before_cpu), 1) for n in pipelines]}; all CPU before "
                  f"{[round(t, 2) for t in before_cpu]}; same boxes before and after: {same}")
        for name, found_boxes, found_categories in (
            ("before", before_boxes, before_categories), ("now", specimen_boxes, specimen_categories)
        ):
            if found_boxes:
                pairs = {k: list(zip(v, found_categories[k], strict=True)) for k, v in found_boxes.items()}
                right, hits = categories_right(truth_categories, pairs)
                print(f"Specimen {name}: the forest's category right for {right} of the {hits} truth objects "
                      f"found ({right / hits:.1%})")
        best = specimen_cpu.index(s_cpu)
        print(f"Specimen's best run: {classify_times[best]:.2f} CPU s of {s_cpu:.2f} in classify_frame "
              "(flat field, threshold, measurements, forest); the rest PNG decoding, crops and the ZIP")
        print(f"Specimen's TSV by EcoTaxa's import rules: {'ok' if check.ok else check.errors[:3]} "
              f"({check.rows} rows)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
