"""Fit the similarity descriptors' standardisation and PCA basis on a generated corpus.

    python scripts/fit_similarity_basis.py   # writes specimen_imaging/similarity_basis.npz

The corpus is :func:`specimen_imaging.scenes.corpus` (seed 1, never the seeds the tests and
``bench/similar_search.py`` measure on): every scene is described twice, as a whole image and
as its object's region alone, since the library stores whole images and a selection queries
a region. The same code gives the same file (the SVD's signs are fixed); a change of the raw
groups needs a new ``DESCRIPTOR_SET_VERSION`` and a refit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from specimen_imaging import scenes, similarity

CORPUS_SCENES = 800
CORPUS_SEED = 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=similarity.BASIS_FILE)
    arguments = parser.parse_args()
    started = time.perf_counter()
    raw = []
    for item in scenes.corpus(CORPUS_SCENES, CORPUS_SEED):
        raw.append(similarity.raw_descriptor(item.pixels))
        raw.append(similarity.raw_descriptor(item.pixels, item.mask))
    basis = similarity.fit_basis(np.stack(raw))
    similarity.save_basis(basis, arguments.out)
    print(f"fitted descriptor set {basis.version} on {len(raw)} descriptors "
          f"({similarity.RAW_LENGTH} -> {similarity.DIMENSIONS}) in "
          f"{time.perf_counter() - started:.1f} s; wrote {arguments.out}")


if __name__ == "__main__":
    main()
