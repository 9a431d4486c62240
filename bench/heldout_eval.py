"""The served models on data they never saw: the held-out generator families and non-MRI photographs.

The MRI slices and plankton vignettes come from :mod:`specimen_classify.heldout` (written apart
from the training generators, never used for training or model selection); the out-of-distribution
(OOD) set is scikit-image's sample photographs, documents, textures and microscopy, none of them a
brain MRI. Each input goes the way a request does, in this process and without HTTP: its file
bytes (PNG 8/16-bit or JPEG, as the family stored it) are decoded by the serving decoders
(``read_mri``, ``decode_image``), then

- MRI: ``classify_each`` with the active model of the store (the LiteRT runtime, as served);
- plankton: the trainer's crop featurisation (``crop_features``) and ``classify_objects`` with the
  active forest (ONNX Runtime, as served).

An answer counts as *answered* when it is a confident label: for MRI ``tumor`` or ``healthy``
(not ``uncertain`` or any other abstention, not flagged ``out_of_distribution``, not refused with
a problem such as ``no-brain-found``); for plankton one of the model's classes (not ``unclear``,
and a crop in which no object was found is not answered). Printed, and written as JSON with
``--json``: accuracy over all inputs (an abstention counts as wrong), accuracy, balanced accuracy
and per-class recall over the answered ones, coverage (answered / all), for MRI how well the
tumor probabilities rank the slices (AUC, and the best balanced accuracy any threshold would give:
a ceiling read off the held-out family itself, which no recalibration reaches), breakdowns (MRI by
lesion, contrast, storage format and slice level; plankton by instrument style); for the OOD set
every image's answer and how many got a label with probability >= 0.8. ``--mri-dir`` and
``--plankton-dir`` score folders instead (``DIR/yes`` + ``DIR/no``; ``DIR/<class>/``), such as
``generate heldout-mri|heldout-plankton`` writes them, or real data laid out the same way.

    .venv/bin/python bench/heldout_eval.py [--store DIR] [--mri 200] [--plankton 60] [--seed 2024]

Without ``--store`` the default models are bootstrapped into a temporary store first
(``python -m specimen_classify bootstrap-models`` in a child process: TensorFlow never loads here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.adapters.forest_runtime import OnnxPlanktonModel
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.adapters.mri_runtime import LiteRtMriModel
from specimen_classify.domain.evaluation import auc, roc_curve
from specimen_classify.domain.plankton.classify import classify_objects
from specimen_classify.domain.plankton.crops import crop_features
from specimen_classify.domain.predictions import MRI_MODEL, PLANKTON_MODEL, ModelVersion
from specimen_classify.heldout.mri import encode_slice, heldout_mri_slice
from specimen_classify.heldout.plankton import CATEGORIES, FOLDER_NAMES, encode_crop, heldout_plankton_crop
from specimen_imaging.codecs import decode_image
from specimen_imaging.measurements import FEATURE_NAMES
from specimen_kit.errors import Problem

MAX_PIXELS = 40_000_000
CONFIDENT = 0.8
"""Probability at or above which an OOD image's label counts as a confident (wrong) answer."""
MRI_LABELS = ("tumor", "healthy")
OOD_IMAGES = (
    "astronaut",
    "coins",
    "chelsea",
    "coffee",
    "camera",
    "text",
    "page",
    "rocket",
    "moon",
    "retina",
    "immunohistochemistry",
    "hubble_deep_field",
    "brick",
    "gravel",
    "grass",
    "clock",
    "cell",
    "colorwheel",
    "logo",
    "checkerboard",
)
"""scikit-image sample images that load without a download (photographs, documents, textures,
microscopy, a fundus photograph, graphics): none is a brain MRI slice."""


def bootstrap_store(root: Path) -> None:
    """Train the default models into ``root`` in a child process (TensorFlow stays out of this one)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SPECIMEN_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [sys.executable, "-m", "specimen_classify", "bootstrap-models", "--store", str(root), "--quiet"],
        check=True,
        env=env,
    )


def load_active(store: ModelStore, name: str, loader: Callable[[Path, ModelVersion], Any]) -> Any:
    version = store.active_version(name)
    if version is None:
        raise SystemExit(f"{store.root} has no active {name!r} model")
    return loader(store.version_dir(name, version), ModelVersion(name, version))


# Scores --------------------------------------------------------------------------------------------


def summary(truth: Sequence[str], answers: Sequence[str | None], classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy over all (an abstention is wrong), and over the answered: accuracy, balanced
    accuracy, per-class recall and coverage. ``answers[i]`` is None when input ``i`` was not answered."""
    answered = [(t, a) for t, a in zip(truth, answers, strict=True) if a is not None]
    recall, coverage = {}, {}
    for label in classes:
        of_class = [a for t, a in zip(truth, answers, strict=True) if t == label]
        given = [a for a in of_class if a is not None]
        coverage[label] = len(given) / len(of_class) if of_class else None
        recall[label] = sum(a == label for a in given) / len(given) if given else None
    present = [r for r in recall.values() if r is not None]
    return {
        "samples": len(truth),
        "answered": len(answered),
        "coverage": len(answered) / len(truth) if truth else None,
        "accuracy_all": sum(t == a for t, a in zip(truth, answers, strict=True)) / len(truth)
        if truth
        else None,
        "accuracy_answered": sum(t == a for t, a in answered) / len(answered) if answered else None,
        "balanced_accuracy_answered": float(np.mean(present)) if present else None,
        "recall_answered": recall,
        "coverage_by_class": coverage,
        "answers": dict(Counter("(not answered)" if a is None else a for a in answers)),
    }


def ranking(truth: Sequence[str], tumor_probability: Sequence[float | None]) -> dict[str, Any]:
    """How well the tumor probabilities rank the slices, whatever the threshold.

    Over the slices given a probability (an abstention or a refusal has none): the ROC AUC, and the
    best balanced accuracy of any threshold, which only a threshold read off these very slices
    would reach.
    """
    scored = [(t == "tumor", p) for t, p in zip(truth, tumor_probability, strict=True) if p is not None]
    tumor = np.array([t for t, _ in scored], bool)
    if not scored or tumor.all() or not tumor.any():
        return {"scored": len(scored), "auc": None, "best_balanced_accuracy_any_threshold": None}
    fpr, tpr, _ = roc_curve(tumor, np.array([p for _, p in scored], np.float64))
    return {"scored": len(scored), "auc": auc(fpr, tpr),
            "best_balanced_accuracy_any_threshold": float(np.max((tpr + 1.0 - fpr) / 2.0))}


def _answer_of(result: Any) -> tuple[str | None, float | None, str]:
    """(label if answered else None, probability, what came back) of one MRI result."""
    if isinstance(result, Problem):
        return None, None, f"problem {result.slug}"
    label = str(result.label)
    # An uncertain answer carries no probability: it says it does not know.
    probability = None if result.probability is None else float(result.probability)
    if label not in MRI_LABELS or bool(getattr(result, "out_of_distribution", False)):
        return None, probability, f"abstained ({label})"
    return label, probability, label


def classify_mri_bytes(files: Sequence[bytes], model: Any) -> list[Any]:
    """Decode and classify, as ``POST /classify/mri/batch`` does (a failing item keeps its problem)."""
    from specimen_classify.domain.predictions import classify_each

    items: list[Any] = []
    for data in files:
        try:
            items.append(read_mri(data, max_pixels=MAX_PIXELS))
        except Problem as error:
            items.append(error)
    results: list[Any] = []
    for start in range(0, len(items), 64):
        results.extend(classify_each(items[start : start + 64], model))
    return results


# Families ------------------------------------------------------------------------------------------


def _groups(values: Sequence[str], truth: Sequence[str], answers: Sequence[str | None]) -> dict[str, Any]:
    """Right and answered counts per value of one breakdown key."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, value in enumerate(values):
        members[value].append(i)
    return {
        name: {
            "n": len(ix),
            "answered": sum(answers[i] is not None for i in ix),
            "right": sum(answers[i] == truth[i] for i in ix),
        }
        for name, ix in sorted(members.items())
    }


def generated_mri(per_class: int, seed: int) -> tuple[list[bytes], list[str], dict[str, list[str]]]:
    """The held-out family's slices as files, their truth, and breakdown keys from their meta."""
    files, truth, keys = [], [], defaultdict(list)
    for index in range(per_class):
        for has_tumor in (True, False):
            image, _, meta = heldout_mri_slice((seed, int(has_tumor), index), has_tumor=has_tumor)
            files.append(encode_slice(image, meta)[0])
            truth.append("tumor" if has_tumor else "healthy")
            for key in ("lesion", "contrast", "format", "level"):
                keys[key].append(str(meta[key] or "none (healthy)"))
    return files, truth, keys


def folder_mri(data_dir: Path) -> tuple[list[bytes], list[str], dict[str, list[str]]]:
    """``DATA_DIR/yes/*`` (tumor) and ``DATA_DIR/no/*`` (healthy), any format ``read_mri`` reads."""
    files, truth, keys = [], [], defaultdict(list)
    for folder, label in (("yes", "tumor"), ("no", "healthy")):
        for path in sorted((data_dir / folder).iterdir()) if (data_dir / folder).is_dir() else []:
            if path.is_file() and not path.name.startswith("."):
                files.append(path.read_bytes())
                truth.append(label)
                keys["extension"].append(path.suffix.lower())
    if not files:
        raise SystemExit(f"{data_dir} holds no yes/ or no/ files")
    return files, truth, keys


def evaluate_mri(
    model: Any, files: list[bytes], truth: list[str], keys: dict[str, list[str]]
) -> dict[str, Any]:
    started = time.perf_counter()
    results = classify_mri_bytes(files, model)
    seconds = time.perf_counter() - started
    answers: list[str | None] = []
    kinds: Counter[str] = Counter()
    p_tumor: dict[str, list[float]] = defaultdict(list)
    probabilities: list[float | None] = []
    for t, result in zip(truth, results, strict=True):
        label, _, kind = _answer_of(result)
        answers.append(label)
        kinds[kind] += 1
        probability = None if isinstance(result, Problem) else result.tumor_probability
        probabilities.append(None if probability is None else float(probability))
        if probability is not None:
            p_tumor[t].append(float(probability))
    report = summary(truth, answers, MRI_LABELS)
    report["ranking"] = ranking(truth, probabilities)
    report["outcomes"] = dict(kinds)
    report["mean_tumor_probability"] = {t: float(np.mean(v)) for t, v in p_tumor.items()}
    report["seconds_per_slice"] = seconds / len(files)
    report["breakdown"] = {key: _groups(values, truth, answers) for key, values in keys.items()}
    return report


def _feature_row(pixels: npt.NDArray[Any], model: Any) -> npt.NDArray[np.float64] | None:
    """The crop's feature row in the model's feature order (the trainer's crop featurisation)."""
    row = crop_features(pixels)
    if row is None:
        return None
    if len(row) == len(FEATURE_NAMES):
        by_name = dict(zip(FEATURE_NAMES, row, strict=True))
        if all(name in by_name for name in model.feature_names):
            return np.array([by_name[name] for name in model.feature_names], np.float64)
    # Another feature set: the trainer's featurisation yields the served model's row as it is.
    return np.asarray(row, np.float64)


def generated_plankton(per_class: int, seed: int) -> tuple[list[bytes], list[str], dict[str, list[str]]]:
    files, truth, keys = [], [], defaultdict(list)
    for k, category in enumerate(CATEGORIES):
        for index in range(per_class):
            image, _, meta = heldout_plankton_crop((seed, k, index), category)
            files.append(encode_crop(image, meta)[0])
            truth.append(category)
            keys["style"].append(str(meta["style"]) + ("-bright" if meta["bright_object"] else ""))
    return files, truth, keys


def folder_plankton(data_dir: Path) -> tuple[list[bytes], list[str], dict[str, list[str]]]:
    """``DATA_DIR/<class>/*``: a folder named as the generators name them is that category."""
    category_of = {folder: category for category, folder in FOLDER_NAMES.items()}
    files, truth, keys = [], [], defaultdict(list)
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                files.append(path.read_bytes())
                truth.append(category_of.get(folder.name, folder.name))
                keys["extension"].append(path.suffix.lower())
    if not files:
        raise SystemExit(f"{data_dir} holds no class folders with crops")
    return files, truth, keys


def evaluate_plankton(
    model: Any, files: list[bytes], truth: list[str], keys: dict[str, list[str]]
) -> dict[str, Any]:
    rows: list[npt.NDArray[np.float64] | None] = []
    for data in files:
        try:
            rows.append(_feature_row(decode_image(data, max_pixels=MAX_PIXELS).pixels, model))
        except Problem:
            rows.append(None)
    measured = [i for i, r in enumerate(rows) if r is not None]
    matrix = np.stack([r for r in rows if r is not None]) if measured else None
    by_index = dict(zip(measured, classify_objects(matrix, model) if matrix is not None else [], strict=True))
    answers: list[str | None] = []
    most_probable: list[str | None] = []
    for i in range(len(truth)):
        prediction = by_index.get(i)
        answered = prediction is not None and prediction.category in model.classes
        answers.append(str(prediction.category) if prediction is not None and answered else None)
        most_probable.append(
            None if prediction is None else max(prediction.scores, key=prediction.scores.__getitem__)
        )
    classes = list(dict.fromkeys([*CATEGORIES, *truth])) if set(truth) - set(CATEGORIES) else list(CATEGORIES)
    report = summary(truth, answers, classes)
    report["no_object_found"] = len(truth) - len(measured)
    report["most_probable"] = summary(truth, most_probable, classes)["accuracy_answered"]
    report["breakdown"] = {key: _groups(values, truth, answers) for key, values in keys.items()}
    return report


def ood_images() -> list[tuple[str, bytes]]:
    """Each OOD sample as the PNG a client would send (alpha flattened, booleans to 0/255)."""
    import skimage.data

    images = []
    for name in OOD_IMAGES:
        pixels = np.asarray(getattr(skimage.data, name)())
        if pixels.dtype == bool:
            pixels = pixels.astype(np.uint8) * 255
        if pixels.ndim == 3 and pixels.shape[2] == 4:
            alpha = pixels[:, :, 3:4].astype(np.float64) / 255
            pixels = np.rint(pixels[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if pixels.ndim == 3 else pixels
        ok, png = cv2.imencode(".png", bgr)
        if not ok:
            raise RuntimeError(f"could not encode {name}")
        images.append((name, png.tobytes()))
    return images


def evaluate_ood(model: Any) -> dict[str, Any]:
    images = ood_images()
    results = classify_mri_bytes([data for _, data in images], model)
    answers = {}
    confident = 0
    for (name, _), result in zip(images, results, strict=True):
        label, probability, kind = _answer_of(result)
        answers[name] = {"answer": kind, "probability": probability}
        confident += label is not None and probability is not None and probability >= CONFIDENT
    return {
        "images": len(images),
        "answered_with_a_label": sum(a["answer"] in MRI_LABELS for a in answers.values()),
        f"confident_labels_p>={CONFIDENT}": confident,
        "answers": answers,
    }


def contact_sheets(out_dir: Path, seed: int) -> list[Path]:
    """One PNG per family, to look at: 24 MRI slices (alternately tumor and healthy, as decoded by
    ``read_mri``) and 8 crops of each plankton category at their stored size (up to 200 px shown)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tiles = []
    for index in range(24):
        image, tumor, meta = heldout_mri_slice((seed, index % 2, index), has_tumor=index % 2 == 1)
        gray = read_mri(encode_slice(image, meta)[0], max_pixels=MAX_PIXELS)
        tile = cv2.cvtColor(cv2.resize(gray, (256, 256), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
        caption = (
            f"{'tumor' if tumor else 'healthy'} {meta['lesion'] or ''} {meta['contrast']} {meta['format']}"
        )
        cv2.putText(
            tile, caption, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 255) if tumor else (0, 255, 0)
        )
        tiles.append(tile)
    mri_sheet = np.vstack([np.hstack(tiles[row * 6 : row * 6 + 6]) for row in range(4)])
    rows = []
    for k, category in enumerate(CATEGORIES):
        cells = []
        for index in range(8):
            image, _, meta = heldout_plankton_crop((seed, k, index), category)
            shown = decode_image(encode_crop(image, meta)[0], max_pixels=MAX_PIXELS).pixels
            shown = (
                cv2.cvtColor(shown, cv2.COLOR_RGB2BGR)
                if shown.ndim == 3
                else cv2.cvtColor(shown, cv2.COLOR_GRAY2BGR)
            )
            scale = min(1.0, 200 / max(shown.shape[:2]))
            shown = cv2.resize(shown, (round(shown.shape[1] * scale), round(shown.shape[0] * scale)))
            cell = np.full((215, 205, 3), 70, np.uint8)
            cell[: shown.shape[0], : shown.shape[1]] = shown
            cv2.putText(
                cell, f"{category[:18]} {meta['style']}", (2, 211), cv2.FONT_HERSHEY_PLAIN, 0.7, (0, 0, 255)
            )
            cells.append(cell)
        rows.append(np.hstack(cells))
    paths = [out_dir / "heldout_mri_sheet.png", out_dir / "heldout_plankton_sheet.png"]
    for path, sheet in zip(paths, (mri_sheet, np.vstack(rows)), strict=True):
        cv2.imwrite(str(path), sheet)
    return paths


# Report --------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def print_report(report: dict[str, Any]) -> None:
    for family in ("mri", "plankton"):
        if family not in report:
            continue
        r = report[family]
        print(f"\n== {family}: {r['samples']} samples, model {report['models'][family]}")
        print(
            f"coverage {_fmt(r['coverage'])}  accuracy (all, abstention wrong) {_fmt(r['accuracy_all'])}  "
            f"accuracy (answered) {_fmt(r['accuracy_answered'])}  "
            f"balanced accuracy (answered) {_fmt(r['balanced_accuracy_answered'])}"
        )
        for label, recall in r["recall_answered"].items():
            print(f"  {label:28s} recall {_fmt(recall)}  coverage {_fmt(r['coverage_by_class'][label])}")
        print(f"  answers: {r['answers']}")
        if family == "mri":
            print(
                f"  outcomes: {r['outcomes']}  mean tumor probability: "
                f"{ {k: round(v, 3) for k, v in r['mean_tumor_probability'].items()} }"
            )
            rank = r["ranking"]
            print(
                f"  ranking of {rank['scored']} tumor probabilities: AUC {_fmt(rank['auc'])}, best balanced "
                f"accuracy of any threshold {_fmt(rank['best_balanced_accuracy_any_threshold'])}"
            )
        else:
            print(
                f"  no object found: {r['no_object_found']}  accuracy of the most probable class "
                f"(no unclear rule): {_fmt(r['most_probable'])}"
            )
        for key, groups in r["breakdown"].items():
            cells = ", ".join(
                f"{name} {g['right']}/{g['n']} ({g['answered']} ans.)" for name, g in groups.items()
            )
            print(f"  by {key}: {cells}")
    if "ood" in report:
        o = report["ood"]
        print(
            f"\n== OOD (not MRI): {o['images']} images; answered tumor/healthy: "
            f"{o['answered_with_a_label']}; with probability >= {CONFIDENT}: "
            f"{o[f'confident_labels_p>={CONFIDENT}']}"
        )
        for name, answer in o["answers"].items():
            print(f"  {name:22s} {answer['answer']:24s} p={_fmt(answer['probability'])}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="model store to evaluate (default: bootstrap the default models into a temp store)",
    )
    parser.add_argument(
        "--mri", type=int, default=200, help="held-out MRI slices PER CLASS (default: %(default)s)"
    )
    parser.add_argument(
        "--plankton", type=int, default=60, help="held-out crops PER CLASS (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=2024, help="held-out families' seed (default: %(default)s)"
    )
    parser.add_argument(
        "--mri-dir",
        type=Path,
        default=None,
        help="score DIR/yes and DIR/no instead of generating (e.g. generate heldout-mri's output)",
    )
    parser.add_argument(
        "--plankton-dir",
        type=Path,
        default=None,
        help="score DIR/<class>/ crops instead of generating (e.g. generate heldout-plankton's)",
    )
    parser.add_argument("--no-ood", action="store_true", help="skip the out-of-distribution photographs")
    parser.add_argument("--json", type=Path, default=None, help="also write the full report here")
    parser.add_argument(
        "--sheets",
        type=Path,
        default=None,
        help="also write a contact sheet of each family to this folder (to look at)",
    )
    arguments = parser.parse_args(argv)
    if arguments.sheets is not None:
        for path in contact_sheets(arguments.sheets, arguments.seed):
            print(f"contact sheet: {path}")
    with tempfile.TemporaryDirectory(prefix="heldout-eval-") as scratch:
        root = arguments.store
        if root is None:
            root = Path(scratch) / "models"
            print(f"bootstrapping the default models into {root} …", flush=True)
            bootstrap_store(root)
        store = ModelStore(root)
        report: dict[str, Any] = {"store": str(root), "seed": arguments.seed, "models": {}}
        if arguments.mri > 0 or arguments.mri_dir is not None or not arguments.no_ood:
            mri_model = load_active(store, MRI_MODEL, LiteRtMriModel.load)
            report["models"]["mri"] = f"{MRI_MODEL} v{mri_model.version.version}"
            if arguments.mri_dir is not None:
                report["mri"] = evaluate_mri(mri_model, *folder_mri(arguments.mri_dir))
            elif arguments.mri > 0:
                report["mri"] = evaluate_mri(mri_model, *generated_mri(arguments.mri, arguments.seed))
            if not arguments.no_ood:
                report["ood"] = evaluate_ood(mri_model)
        if arguments.plankton > 0 or arguments.plankton_dir is not None:
            forest = load_active(store, PLANKTON_MODEL, OnnxPlanktonModel.load)
            report["models"]["plankton"] = f"{PLANKTON_MODEL} v{forest.version.version}"
            source = (
                folder_plankton(arguments.plankton_dir)
                if arguments.plankton_dir is not None
                else generated_plankton(arguments.plankton, arguments.seed)
            )
            report["plankton"] = evaluate_plankton(forest, *source)
    print_report(report)
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
