"""Self-probes of an MRI model on its *own* training generator: where it fails, without the held-out family.

A model is chosen and fixed on what its own generator shows, so its weaknesses there are the first
thing to measure (BENCHMARKS.md, issue 11, sessions 12-14): fresh slices of the generator, and
sets with one thing pinned, each scored the served way (PNG bytes, ``read_mri``,
``classify_each`` with the model's LiteRT runtime):

- ``fresh``: slices ``mri_slice((seed, i), i % 2 == 1)``, every choice drawn;
- ``small``, ``multiple``, ``extra_axial`` (tumor slices with that lesion pinned): tumors found;
- ``template`` and ``posterior_fossa`` (healthy slices cut from the MNI template, and healthy low
  slices): how many are called tumor.

    .venv/bin/python bench/mri_self_probes.py --store DIR [--fresh 1000] [--probe 150] [--seed 777]

``--store`` takes a model store (its active ``mri-tumor`` version) or one version's folder (the
one holding ``card.json``, such as ``build-prebuilt-mri --out`` writes).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
from heldout_eval import _answer_of, classify_mri_bytes, load_active

from specimen_classify.adapters.model_store import CARD_FILE, ModelStore
from specimen_classify.adapters.mri_runtime import LiteRtMriModel
from specimen_classify.domain.predictions import MRI_MODEL, ModelVersion
from specimen_classify.domain.synthetic_mri import GENERATOR, MriSlice, mri_slice

PROBES = (
    ("small", True, {"lesion": "small"}),
    ("multiple", True, {"lesion": "multiple"}),
    ("extra_axial", True, {"lesion": "extra_axial"}),
    ("healthy template", False, {"anatomy_source": "template"}),
    ("healthy posterior_fossa", False, {"level": "posterior_fossa"}),
)
"""(name, has_tumor, the ``mri_slice`` choice pinned) of each probe set."""


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a count of slices; use 1 or more")
    return value


def load_model(path: Path) -> Any:
    """The MRI model of a version folder, or the active one of a store."""
    if (path / CARD_FILE).is_file():
        return LiteRtMriModel.load(path, ModelVersion(MRI_MODEL, 0))
    return load_active(ModelStore(path), MRI_MODEL, LiteRtMriModel.load)


def answers(slices: Sequence[MriSlice], model: Any) -> list[str | None]:
    """Each slice's label as served (None for an abstention or a refusal)."""
    files = [cv2.imencode(".png", drawn.image)[1].tobytes() for drawn in slices]
    return [_answer_of(result)[0] for result in classify_mri_bytes(files, model)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--store", type=Path, required=True, help="model store or version folder")
    parser.add_argument("--fresh", type=_count, default=1000, help="fresh slices, both classes (%(default)s)")
    parser.add_argument("--probe", type=_count, default=150, help="slices per pinned probe (%(default)s)")
    parser.add_argument("--seed", type=int, default=777, help="first seed (%(default)s; probes use the next)")
    arguments = parser.parse_args(argv)
    model = load_model(arguments.store)
    print(f"model {arguments.store}, generator {GENERATOR}")
    fresh = [mri_slice((arguments.seed, i), i % 2 == 1) for i in range(arguments.fresh)]
    truths = ["tumor" if drawn.has_tumor else "healthy" for drawn in fresh]
    right = Counter(t for t, label in zip(truths, answers(fresh, model), strict=True) if label == t)
    print(f"fresh: {right.total() / len(fresh):.3f} right (healthy {right['healthy']} of "
          f"{truths.count('healthy')}, tumor {right['tumor']} of {truths.count('tumor')}; "
          "an abstention is wrong)")
    for offset, (name, has_tumor, pinned) in enumerate(PROBES, start=1):
        seeds = ((arguments.seed + offset, i) for i in range(arguments.probe))
        slices = [mri_slice(seed, has_tumor, **pinned) for seed in seeds]
        called = answers(slices, model).count("tumor")
        print(f"{name}: {called} of {arguments.probe} {'tumors found' if has_tumor else 'called tumor'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
