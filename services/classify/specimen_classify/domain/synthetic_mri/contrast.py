"""Signal levels of every tissue and lesion part, by contrast family.

Levels are relative (about 0-1 before windowing) and drawn from ranges, so two T2 slices do not
share exact gray levels. What tells the families apart is the order of the tissues:

- T1: CSF dark, gray darker than white, fat bright;
- T1 post-contrast (``T1c``): T1, plus enhancing tumor, vessels, sinuses and choroid plexus
  bright; fat sometimes suppressed;
- T2: CSF brightest, gray brighter than white, edema and most tumors bright;
- FLAIR: T2 with the CSF suppressed (dark), so edema and tumor are the brightest parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from specimen_classify.domain.synthetic_mri.anatomy import (
    BACKGROUND,
    BONE,
    CHOROID,
    CSF,
    DEEP_GRAY,
    FAT,
    GRAY,
    LABEL_COUNT,
    MARROW,
    VESSEL,
    WHITE,
    WHITE_SPOT,
)

CONTRASTS = ("T1", "T1c", "T2", "FLAIR")


@dataclass(frozen=True)
class Signals:
    """Signal of each tissue label (``tissue[label]``) and of each lesion part."""

    tissue: npt.NDArray[np.float32]
    solid: float
    enhancing_rim: float
    necrosis: float
    edema: float
    bright: float
    dark: float
    infiltrative: float
    extra_axial: float


def draw_signals(rng: np.random.Generator, contrast: str) -> Signals:
    """Draw one slice's levels for ``contrast`` (one of :data:`CONTRASTS`)."""
    u = rng.uniform
    tissue = np.zeros(LABEL_COUNT, np.float32)
    if contrast in ("T1", "T1c"):
        csf, gray, white = u(0.04, 0.15), u(0.34, 0.46), u(0.54, 0.68)
        fat = u(0.15, 0.32) if contrast == "T1c" and u() < 0.3 else u(0.75, 0.95)
        deep = gray + u(0.02, 0.07)
        vessel = u(0.7, 0.95) if contrast == "T1c" else u(0.2, 0.4)
        choroid = u(0.65, 0.85) if contrast == "T1c" else gray
        spot = white * u(0.85, 1.0)
        solid, necrosis, edema = gray * u(0.6, 0.88), csf + u(0.02, 0.12), gray * u(0.8, 0.97)
        rim = u(0.78, 1.0) if contrast == "T1c" else gray * u(0.85, 1.05)
        bright, dark = u(0.8, 1.0), csf + u(0.0, 0.1)
        infiltrative = gray + (csf - gray) * u(0.3, 0.55)
        extra_axial = u(0.78, 1.0) if contrast == "T1c" else gray * u(0.8, 0.95)
    else:
        gray, white = u(0.48, 0.62), u(0.3, 0.44)
        csf = u(0.85, 1.0) if contrast == "T2" else u(0.02, 0.12)
        fat, deep = u(0.5, 0.8), gray - u(0.02, 0.08)
        vessel, choroid = u(0.02, 0.1), gray * u(0.9, 1.2)  # flow voids; choroid plexus
        spot = white + (gray - white) * u(1.1, 1.8)
        solid = u(0.68, 0.86) if contrast == "T2" else u(0.7, 0.9)
        necrosis = u(0.85, 1.0) if contrast == "T2" else u(0.15, 0.55)
        edema = u(0.68, 0.85) if contrast == "T2" else u(0.7, 0.92)
        rim, bright, dark = gray * u(0.9, 1.3), u(0.78, 0.98), u(0.06, 0.2)
        infiltrative = u(0.7, 0.88) if contrast == "T2" else u(0.72, 0.92)
        extra_axial = gray * u(1.05, 1.35)
    # Gray-white contrast varies with field strength and protocol: sometimes faint.
    middle, squeeze = (gray + white) / 2, u(0.45, 1.15)
    gray, white = middle + (gray - middle) * squeeze, middle + (white - middle) * squeeze
    tissue[[BACKGROUND, FAT, BONE, MARROW, CSF, GRAY, WHITE, DEEP_GRAY, VESSEL, CHOROID, WHITE_SPOT]] = (
        0.0, fat, u(0.01, 0.05), fat * u(0.5, 0.9), csf, gray, white, deep, vessel, choroid, spot)
    return Signals(tissue=tissue, solid=solid, enhancing_rim=rim, necrosis=necrosis, edema=edema,
                   bright=bright, dark=dark, infiltrative=infiltrative, extra_axial=extra_axial)
