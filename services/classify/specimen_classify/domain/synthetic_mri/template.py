"""Real brain anatomy for a share of the slices: a plane cut through the MNI ICBM152 template.

The phantom (:mod:`.anatomy`) draws every structure from a model of it, so a network trained on
the phantom alone learns the phantom's shapes. For :data:`TEMPLATE_SHARE` of the slices the tissue
map is cut instead from the gray- and white-matter probability maps of the MNI ICBM152 2009a
template (``MNI_ICBM152_NOTICE.txt``; ``scripts/build_mri_template.py`` made the data file): real
gyri and sulci, ventricles, deep nuclei, and a real posterior fossa with cerebellum, brainstem and
temporal poles. One average brain becomes many by how it is cut and warped: the plane (mostly
axial; coronal and sagittal too, as many sets mix them), its position and tilt, an anisotropic
scale, a smooth elastic displacement (so the two sides differ), and atrophy that widens sulci and
ventricles. Skull, scalp, vessels and white-matter spots are drawn around and into it as for the
phantom, with the phantom's labels, so contrast, lesions and acquisition treat both alike.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain.synthetic_mri.anatomy import (
    BONE,
    CSF,
    DEEP_GRAY,
    FAT,
    GRAY,
    LEVEL_EDGES,
    MARROW,
    WHITE,
    Anatomy,
    Canvas,
    draw_spots_and_vessels,
    level_name,
    smooth_noise,
)

TEMPLATE_SHARE = 0.3
"""Share of slices cut from the template instead of drawn by the phantom."""
PLANES = ("axial", "coronal", "sagittal")
PLANE_WEIGHTS = (0.7, 0.15, 0.15)
"""How often the template is cut in each plane: brain MRI sets (the Kaggle brain-tumor set among
them) mix coronal and sagittal slices with the axial ones."""
TEMPLATE_FILE = Path(__file__).with_name("mni_icbm152_2009a_tissue.npz")
SLICE_MM = 2.0
"""Spacing of the stored axial slices (1 mm in plane); slice ``k`` averages mm ``2k`` and ``2k + 1``."""
LEVEL_MM = (22.0, 52.0, 66.0, 82.0, 98.0, 122.0, 148.0)
"""Height above the brain's lowest point (mm) at each of :data:`~.anatomy.LEVEL_EDGES`: the
template's posterior fossa, midbrain, basal ganglia, lateral ventricles' bodies, centrum
semiovale and vertex fall in the phantom's level ranges."""
BRAIN_LENGTH_MM = 181.0
"""Front-to-back length of the template's brain (its box)."""
CENTRE_HEIGHT_MM = 80.0
"""Height of a coronal or sagittal cut's centre above the brain's lowest point: the cerebrum's
middle, with the brainstem below."""

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


@lru_cache(maxsize=1)
def load_template() -> tuple[FloatArray, FloatArray, FloatArray]:
    """Gray matter, white matter and brain maps in [0, 1], axes (z up, y forward, x)."""
    with np.load(TEMPLATE_FILE) as data:
        return tuple(np.ascontiguousarray(data[k], np.float32) / np.float32(255.0)  # type: ignore[return-value]
                     for k in ("gm", "wm", "brain"))


def trilinear(volume: FloatArray, z: FloatArray, y: FloatArray, x: FloatArray) -> FloatArray:
    """``volume`` at fractional voxel coordinates; 0 outside it."""
    shape = volume.shape
    inside = np.ones(z.shape, np.bool_)
    corners = []
    for coordinate, extent in zip((z, y, x), shape, strict=True):
        inside &= (coordinate >= 0) & (coordinate <= extent - 1)
        clipped = np.clip(coordinate, 0, extent - 1.001)
        low = np.floor(clipped).astype(np.intp)
        corners.append((low, (clipped - low).astype(np.float32)))
    (z0, fz), (y0, fy), (x0, fx) = corners
    flat = volume.ravel()
    strides = (shape[1] * shape[2], shape[2], 1)
    base = z0 * strides[0] + y0 * strides[1] + x0
    total = np.zeros(z.shape, np.float32)
    for dz in (0, 1):
        wz = fz if dz else 1 - fz
        for dy in (0, 1):
            wy = fy if dy else 1 - fy
            for dx in (0, 1):
                wx = fx if dx else 1 - fx
                total += wz * wy * wx * flat[base + dz * strides[0] + dy * strides[1] + dx]
    return np.where(inside, total, np.float32(0.0)).astype(np.float32)


def draw_template_anatomy(rng: np.random.Generator, size: int, z: float) -> Anatomy:
    """Cut one slice from the template: axial at level ``z`` (see :func:`~.anatomy.draw_anatomy`),
    or coronal or sagittal (:data:`PLANE_WEIGHTS`) at a position of its own."""
    gm, wm, inside = load_template()
    plane = str(rng.choice(PLANES, p=PLANE_WEIGHTS))
    level = level_name(z)
    half = size / 2.0
    unit = size / 256.0

    mm_per_row = BRAIN_LENGTH_MM / (size * rng.uniform(0.62, 0.76))
    mm_per_col = mm_per_row * rng.uniform(0.9, 1.12)
    pitch, roll = np.radians(rng.uniform(-12.0, 12.0)), np.radians(rng.uniform(-4.0, 4.0))
    height_mm = float(np.interp(z, LEVEL_EDGES, LEVEL_MM))
    amplitude = size * rng.uniform(0.0, 0.03)
    cells = int(rng.integers(4, 8))
    rows = (np.arange(size, dtype=np.float32) + 0.5 - half)[:, None] + np.float32(amplitude) * smooth_noise(
        rng, (size, size), cells)
    cols = (np.arange(size, dtype=np.float32) + 0.5 - half)[None, :] + np.float32(amplitude) * smooth_noise(
        rng, (size, size), cells)
    v, u = rows * np.float32(mm_per_row), cols * np.float32(mm_per_col)  # mm down and right of the centre
    middle_y, middle_x = (gm.shape[1] - 1) / 2, (gm.shape[2] - 1) / 2
    sin_p, cos_p, sin_r, cos_r = np.sin(pitch), np.cos(pitch), np.sin(roll), np.cos(roll)
    # (height, forward, right) of the centre, and of one pixel down and one right, in mm.
    if plane == "axial":  # anterior up
        origin, down, right = (height_mm, middle_y, middle_x), (sin_p, -cos_p, 0.0), (sin_r, 0.0, cos_r)
    elif plane == "coronal":  # superior up, seen from the front
        origin = (CENTRE_HEIGHT_MM, rng.uniform(0.12, 0.88) * BRAIN_LENGTH_MM, middle_x)
        down, right = (-cos_p, sin_p, 0.0), (0.0, sin_r, cos_r)
    else:  # sagittal: superior up, anterior on the left
        origin = (CENTRE_HEIGHT_MM, middle_y, middle_x + rng.choice((-1, 1)) * rng.uniform(0.0, 45.0))
        down, right = (-cos_p, 0.0, sin_p), (0.0, -cos_r, sin_r)
    height, forward, across = (np.float32(o) + v * np.float32(d) + u * np.float32(r)
                               for o, d, r in zip(origin, down, right, strict=True))
    zi = (height - np.float32(0.5)) / np.float32(SLICE_MM)
    gray, white, brain_share = (trilinear(volume, zi, forward, across) for volume in (gm, wm, inside))

    brain = _without_specks(brain_share > 0.5, size)
    atrophy = rng.uniform(0.0, 1.0) ** 2  # most brains young, a few with wide ventricles and sulci
    fluid = np.clip(1.0 - gray - white, 0.0, 1.0) + np.float32(0.3 * atrophy)
    labels = np.zeros((size, size), np.uint8)
    labels[brain] = CSF
    labels[brain & (gray > white) & (gray >= fluid)] = GRAY
    labels[brain & (white >= gray) & (white >= fluid)] = WHITE
    depth = np.asarray(cv2.distanceTransform(brain.astype(np.uint8), cv2.DIST_L2, 3), np.float32)
    # Deep nuclei: gray matter far from the surface, mixed with white in the average brain.
    labels[(labels == GRAY) & (depth > 0.3 * float(depth.max())) & (white > 0.2)] = DEEP_GRAY

    low_axial = plane == "axial" and level == "posterior_fossa"
    intracranial, head = _skull(rng, labels, brain, size, atrophy, low_axial, unit)
    points = np.argwhere(brain)
    if points.size:
        semi_v = float(np.abs(points[:, 0] + 0.5 - half).max())
        semi_u = float(np.abs(points[:, 1] + 0.5 - half).max())
    else:
        semi_v = semi_u = half / 2
    canvas = Canvas(labels, half, semi_u, semi_v)
    draw_spots_and_vessels(rng, labels, brain, depth, canvas, unit, atrophy, level)
    return Anatomy(labels=labels, brain=brain, head=head, intracranial=intracranial,
                   depth=depth, level=level, folded=True, plane=plane)


def _without_specks(mask: BoolArray, size: int) -> BoolArray:
    """``mask`` without the pieces a cut grazes (under 0.2 % of the image)."""
    count, components, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, np.bool_)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 0.002 * size * size
    return np.asarray(keep[components], np.bool_)


def _skull(rng: np.random.Generator, labels: npt.NDArray[np.uint8], brain: BoolArray, size: int,
           atrophy: float, posterior_fossa: bool, unit: float) -> tuple[BoolArray, BoolArray]:
    """Draw CSF, skull and scalp around ``brain`` into ``labels``; the intracranial and head masks."""
    hull = np.zeros((size, size), np.uint8)
    points = cv2.findNonZero(brain.astype(np.uint8))
    if points is not None:
        cv2.fillPoly(hull, [cv2.convexHull(points)], 1)
    gap = max(round(size * (rng.uniform(0.002, 0.008) + 0.012 * atrophy)), 1)
    intracranial = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1,) * 2)) > 0
    outside = cv2.distanceTransform((~intracranial).astype(np.uint8), cv2.DIST_L2, 3)
    bone = size * rng.uniform(0.012, 0.03)
    scalp = size * rng.uniform(0.01, 0.03)
    labels[(outside > 0) & (outside <= bone + scalp)] = FAT
    labels[(outside > 0) & (outside <= bone)] = BONE
    if rng.uniform() < 0.7:
        marrow = bone * rng.uniform(0.25, 0.6)
        labels[np.abs(outside - bone / 2) <= marrow / 2] = MARROW
    labels[intracranial & ~brain] = CSF
    if posterior_fossa:
        # Bone and air cells fill what the brain leaves of the skull base, but a thin rim of CSF.
        rim = max(round(unit * rng.uniform(2.0, 5.0)), 1)
        near = cv2.dilate(brain.astype(np.uint8), cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * rim + 1, 2 * rim + 1))) > 0
        labels[intracranial & ~near] = BONE
    head = intracranial | ((outside > 0) & (outside <= bone + scalp))
    return intracranial, head
