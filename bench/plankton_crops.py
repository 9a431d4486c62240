"""Plankton forest on vignettes: balanced accuracy off the training variety, and a feature-group ablation.

    nice -n 15 python bench/plankton_crops.py TRAIN_DIR EVAL_DIR [EVAL_DIR ...] [--model MODEL_DIR]

TRAIN_DIR and each EVAL_DIR hold one folder of crops per class. With ``--model`` the trained
model (``model.onnx`` + ``card.json``) is scored on each EVAL_DIR through the serving runtime,
unclear rule applied; then forests of the card's parameters are fitted on TRAIN_DIR with feature
set 1 alone, set 1 + each group of set 2, and set 2 without each group, and scored on each
EVAL_DIR (most probable class). Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import balanced_accuracy_score, recall_score

from specimen_classify.adapters.forest_runtime import OnnxPlanktonModel
from specimen_classify.domain.plankton.unclear import categories_of
from specimen_classify.domain.predictions import PLANKTON_MODEL, ModelVersion
from specimen_classify.training.plankton import load_dataset
from specimen_imaging.descriptors import GROUPS
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SETS


def columns(names: tuple[str, ...]) -> list[int]:
    return [FEATURE_NAMES.index(n) for n in names]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("train_dir", type=Path)
    parser.add_argument("eval_dirs", type=Path, nargs="+")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--trees", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    train = load_dataset(args.train_dir, progress=False)
    per_crop = (time.perf_counter() - started) / len(train.files)
    evals = {d.name: load_dataset(d, progress=False) for d in args.eval_dirs}
    print(f"train: {len(train.files)} crops ({per_crop * 1000:.1f} ms per crop, read and measured)")
    for name, data in evals.items():
        if data.classes != train.classes:
            sys.exit(f"{name}'s classes {data.classes} differ from the training set's {train.classes}")
        print(f"{name}: {len(data.files)} crops, skipped {len(data.skipped)}")
    if args.model:
        model = OnnxPlanktonModel.load(args.model, ModelVersion(PLANKTON_MODEL, 0))
        print("\n| set | balanced accuracy | coverage | balanced accuracy, unclear = miss "
              "| per-class recall |")
        print("|---|---|---|---|---|")
        for name, data in evals.items():
            p = model.class_probabilities(data.features)
            truth = [model.classes[t] for t in data.targets]
            top = [model.classes[i] for i in p.argmax(axis=1)]
            with_unclear = categories_of(p, model.classes, model.unclear_threshold)
            recall = recall_score(truth, top, labels=list(model.classes), average=None)
            answered = [c != "unclear" for c in with_unclear]
            print(f"| {name} | {balanced_accuracy_score(truth, top):.3f} | {np.mean(answered):.3f} | "
                  f"{balanced_accuracy_score(truth, with_unclear):.3f} | "
                  + ", ".join(f"{c}: {r:.2f}" for c, r in zip(model.classes, recall, strict=True)) + " |")
    base = FEATURE_SETS["1"]
    variants = {"set 1 only": base, "set 2 (all)": FEATURE_NAMES}
    for group, names in GROUPS.items():
        variants[f"set 1 + {group}"] = (*base, *names)
    for group, names in GROUPS.items():
        variants[f"set 2 - {group}"] = tuple(n for n in FEATURE_NAMES if n not in names)
    print("\n| features | columns | " + " | ".join(f"{n} balanced accuracy" for n in evals) + " |")
    print("|---|---|" + "---|" * len(evals))
    for label, names in variants.items():
        cols = columns(names)
        forest = RandomForestClassifier(n_estimators=args.trees, min_samples_leaf=2, max_features="sqrt",
                                        class_weight="balanced", random_state=0, n_jobs=1)
        forest.fit(train.features[:, cols], train.targets)
        scores = [balanced_accuracy_score(d.targets, forest.predict(d.features[:, cols]))
                  for d in evals.values()]
        print(f"| {label} | {len(cols)} | " + " | ".join(f"{s:.3f}" for s in scores) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
