"""Write the MRI generator's real-anatomy template from the MNI ICBM152 2009a maps nilearn ships.

The generator (``specimen_classify.domain.synthetic_mri.template``) draws a share of its slices on
real brain anatomy: the gray- and white-matter probability maps of the MNI ICBM152 2009a
nonlinear symmetric template (Fonov et al., NeuroImage 2011), as nilearn's wheel ships them
(``nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz``, 1 mm,
197 x 233 x 189, uint8, the T1 skull-stripped). This script reads those three files, crops them to
the brain, averages pairs of axial slices (1 mm in plane, 2 mm between slices; the served model
reads 64 pixels) and writes ``gm``, ``wm`` and ``brain`` (uint8, axes z, y, x; z inferior to
superior, y posterior to anterior) to the package's ``mni_icbm152_2009a_tissue.npz``.

Usage (nilearn is not a dependency; any copy of its wheel will do)::

    pip download --no-deps nilearn==0.14.1 -d /tmp/nl && unzip -q /tmp/nl/nilearn-*.whl -d /tmp/nl
    python scripts/build_mri_template.py /tmp/nl/nilearn/datasets/data

The template's copyright notice is kept beside the data (``MNI_ICBM152_NOTICE.txt``).
"""

from __future__ import annotations

import argparse
import gzip
import struct
import sys
from pathlib import Path

import numpy as np

OUT = (Path(__file__).resolve().parents[1] / "services/classify/specimen_classify/domain/synthetic_mri"
       / "mni_icbm152_2009a_tissue.npz")
NAME = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"


def read_nifti_uint8(path: Path) -> np.ndarray:
    """The volume of a NIfTI-1 file of unscaled uint8 voxels, as (z, y, x)."""
    raw = gzip.decompress(path.read_bytes())
    dims = struct.unpack("<8h", raw[40:56])
    datatype = struct.unpack("<h", raw[70:72])[0]
    offset = int(struct.unpack("<f", raw[108:112])[0])
    slope, inter = struct.unpack("<ff", raw[112:120])
    if dims[0] != 3 or datatype != 2 or slope not in (0.0, 1.0) or inter != 0.0:
        raise SystemExit(f"{path}: expected a 3-D unscaled uint8 volume, found dims {dims}, type {datatype}")
    x, y, z = dims[1:4]
    return np.frombuffer(raw[offset:offset + x * y * z], np.uint8).reshape(z, y, x)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="nilearn/datasets/data of an unpacked nilearn wheel")
    args = parser.parse_args()
    t1, gm, wm = (read_nifti_uint8(args.data_dir / NAME.format(n)) for n in ("t1", "gm", "wm"))
    brain = t1 > 0
    zs, ys, xs = (np.flatnonzero(brain.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1)))
    box = (slice(zs[0], zs[-1] + 1), slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1))
    maps = {"gm": np.where(brain, gm, 0)[box], "wm": np.where(brain, wm, 0)[box],
            "brain": brain[box].astype(np.uint8) * 255}
    pairs = maps["gm"].shape[0] // 2 * 2
    halved = {k: np.rint((v[:pairs:2].astype(np.float32) + v[1:pairs:2]) / 2).astype(np.uint8)
              for k, v in maps.items()}
    np.savez_compressed(OUT, **halved)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), shape {halved['gm'].shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
