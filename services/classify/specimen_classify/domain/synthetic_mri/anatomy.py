"""The head of one axial slice as a map of tissue labels, in a centred, upright frame.

Anterior is up (row 0), the patient's right is on the image's left (radiological view). The slice
level ``z`` in [0, 1] runs from the posterior fossa (cerebellum with its folia, the pons joined to
it, fourth ventricle, eyes; bone and air fill the fossa around a thin rim of CSF) through the
midbrain (suprasellar and ambient cisterns, temporal horns, Sylvian fissures), the basal ganglia
(frontal horns, third ventricle, caudate, lentiform nuclei, thalami, atria) and the lateral
ventricles' bodies to the centrum semiovale and the vertex, where the brain is small and mostly
cortex. The cortex is a gray ribbon that follows the surface and lines sulci: the zero set of a
random field that varies faster along the surface than into depth, so the sulci run inward and
meander as gyri do; a fifth of the brains are drawn smooth, without sulci or folia
(:data:`SMOOTH_SHARE`). Shapes, sizes, ventricle width (atrophy) and the two sides differ from slice
to slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

# Tissue labels; the contrast stage maps each to a signal level.
BACKGROUND, FAT, BONE, MARROW, CSF, GRAY, WHITE, DEEP_GRAY, VESSEL, CHOROID, WHITE_SPOT = range(11)
LABEL_COUNT = 11
BRAIN_LABELS = (GRAY, WHITE, DEEP_GRAY, CHOROID, WHITE_SPOT)
"""Parenchyma: where vasogenic edema spreads and where a lesion may be drawn."""

LEVELS = ("posterior_fossa", "midbrain", "basal_ganglia", "ventricular", "supraventricular", "vertex")
LEVEL_EDGES = (0.0, 0.14, 0.28, 0.45, 0.62, 0.82, 1.0)
"""``z`` ranges of :data:`LEVELS`."""
SMOOTH_SHARE = 0.2
"""Share of brains drawn without sulci or cerebellar folia: thick slices, low resolution, young
brains and soft contrast show little of the folding, and a smooth brain is no sign of a tumor."""

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Anatomy:
    """Labels and masks of one canonical (unposed) slice.

    ``depth`` is each brain pixel's distance in pixels to the brain's outline (0 outside);
    ``folded`` says whether sulci (and cerebellar folia) were drawn (:data:`SMOOTH_SHARE`);
    ``plane`` is ``axial`` but for some cuts of the template (:mod:`.template`).
    """

    labels: npt.NDArray[np.uint8]
    brain: BoolArray
    head: BoolArray
    intracranial: BoolArray
    depth: FloatArray
    level: str
    folded: bool
    plane: str = "axial"


def level_name(z: float) -> str:
    """The name of the level ``z`` falls in."""
    index = int(np.searchsorted(LEVEL_EDGES, z, side="right")) - 1
    return LEVELS[min(max(index, 0), len(LEVELS) - 1)]


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> FloatArray:
    """Low-frequency noise in about [-1, 1]: a coarse random grid upsampled bicubically."""
    rows, cols = shape
    coarse = rng.standard_normal((max(cells * rows // max(rows, cols), 2),
                                  max(cells * cols // max(rows, cols), 2))).astype(np.float32)
    field = cv2.resize(coarse, (cols, rows), interpolation=cv2.INTER_CUBIC)
    scale = float(np.abs(field).max()) or 1.0
    return np.asarray(field / scale, dtype=np.float32)


class Canvas:
    """Draws ellipses and polygons given in brain units (u right, v posterior, 1 = semi-axis)."""

    def __init__(self, labels: npt.NDArray[np.uint8], half: float, semi_u: float, semi_v: float) -> None:
        self.labels, self.half, self.semi_u, self.semi_v = labels, half, semi_u, semi_v

    def point(self, u: float, v: float) -> tuple[int, int]:
        return round((self.half + u * self.semi_u) * 16), round((self.half + v * self.semi_v) * 16)

    def ellipse(self, u: float, v: float, su: float, sv: float, angle: float, label: int) -> None:
        # Fixed-point coordinates (shift=4) keep small structures in place at small sizes.
        axes = (max(round(su * self.semi_u * 16), 8), max(round(sv * self.semi_v * 16), 8))
        cv2.ellipse(self.labels, self.point(u, v), axes, angle, 0, 360, label, -1, cv2.LINE_8, 4)

    def polygon(self, points: list[tuple[float, float]], label: int) -> None:
        vertices = np.array([self.point(u, v) for u, v in points], np.int32)
        cv2.fillPoly(self.labels, [vertices], label, cv2.LINE_8, 4)


def _segment_distance(x: FloatArray, y: FloatArray, start: tuple[float, float],
                      end: tuple[float, float]) -> FloatArray:
    """Distance in pixels from each pixel to the segment start-end (points as (x, y))."""
    ax, ay = start
    dx, dy = end[0] - ax, end[1] - ay
    t = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy + 1e-9), 0.0, 1.0)
    return np.asarray(np.hypot(x - ax - t * dx, y - ay - t * dy), dtype=np.float32)


def draw_anatomy(rng: np.random.Generator, size: int, z: float) -> Anatomy:
    """Draw the labels of one slice at level ``z`` (see the module docstring)."""
    level = level_name(z)
    half = size / 2.0
    unit = size / 256.0
    y = (np.arange(size, dtype=np.float32) + 0.5 - half)[:, None]
    x = (np.arange(size, dtype=np.float32) + 0.5 - half)[None, :]

    # The head shrinks towards the vertex and a little towards the skull base.
    extent = 0.88 + 0.12 * min(z / 0.3, 1.0) if z < 0.7 else 1.0 - 4.0 * (z - 0.7) ** 2
    semi_v = size * rng.uniform(0.36, 0.42) * extent
    semi_u = semi_v * rng.uniform(0.74, 0.88)
    taper = rng.uniform(-0.02, 0.12)  # the back of the head is usually the wider part
    harmonics = np.concatenate([rng.uniform(0.0, 0.02, 1), rng.uniform(0.0, 0.025, 4)])
    phases = rng.uniform(0.0, 2 * np.pi, 5)
    theta = np.arctan2(y, x).astype(np.float32)
    wobble = np.ones((size, size), np.float32)
    for k, (amplitude, phase) in enumerate(zip(harmonics, phases, strict=True), start=1):
        wobble += np.float32(amplitude) * np.cos(k * theta + np.float32(phase))
    widened = np.float32(semi_u) * (1.0 + np.float32(taper) * y / np.float32(semi_v))
    rho = np.sqrt((y / np.float32(semi_v)) ** 2 + (x / widened) ** 2) / wobble
    radius = (semi_u + semi_v) / 2.0

    atrophy = rng.uniform(0.0, 1.0) ** 2  # most brains young, a few with wide ventricles and sulci
    scalp = size * rng.uniform(0.01, 0.03)
    bone = size * rng.uniform(0.012, 0.03)
    marrow = bone * rng.uniform(0.25, 0.6) if rng.uniform() < 0.7 else 0.0
    gap = size * (rng.uniform(0.002, 0.008) + 0.012 * atrophy)
    outer_table = 1.0 - scalp / radius
    inner_table = outer_table - bone / radius
    brain_edge = inner_table - gap / radius

    labels = np.zeros((size, size), np.uint8)
    labels[rho <= 1.0] = FAT
    labels[rho <= outer_table] = BONE
    if marrow > 0:
        middle = (outer_table + inner_table) / 2
        labels[np.abs(rho - middle) <= marrow / radius / 2] = MARROW
    intracranial = rho <= inner_table
    labels[intracranial] = CSF
    head = rho <= 1.0

    brain_u, brain_v = semi_u * brain_edge, semi_v * brain_edge
    canvas = Canvas(labels, half, brain_u, brain_v)
    ventricle_scale = 0.8 + 0.9 * atrophy
    sides = rng.uniform(0.85, 1.15, 2) * ventricle_scale  # ventricles are rarely symmetric

    if level == "posterior_fossa":
        brain_labels = np.zeros((size, size), np.uint8)
        shapes = Canvas(brain_labels, half, brain_u, brain_v)
        for side in (-1, 1):  # cerebellar hemispheres
            shapes.ellipse(side * rng.uniform(0.3, 0.4), rng.uniform(0.3, 0.4), rng.uniform(0.45, 0.55),
                           rng.uniform(0.5, 0.6), side * -10.0, 1)
        shapes.ellipse(0.0, 0.35, 0.3, 0.55, 0.0, 1)  # vermis
        pons_v, pons_r = rng.uniform(-0.2, -0.08), rng.uniform(0.18, 0.24)
        shapes.ellipse(0.0, pons_v, pons_r, pons_r * 0.9, 0.0, 1)
        if z > 0.06:  # the temporal lobes' tips appear in the middle cranial fossa
            for side in (-1, 1):
                shapes.ellipse(side * rng.uniform(0.55, 0.65), rng.uniform(-0.45, -0.3),
                               rng.uniform(0.25, 0.33), rng.uniform(0.35, 0.45), side * 15.0, 1)
        brain = (brain_labels > 0) & (rho <= brain_edge)
        # Skull base: the clivus and sphenoid in front of the pons, petrous ridges beside it.
        base = np.zeros((size, size), np.uint8)
        base_canvas = Canvas(base, half, brain_u, brain_v)
        base_canvas.ellipse(0.0, -0.45, 0.16, 0.14, 0.0, BONE)
        base_canvas.ellipse(0.0, -0.45, 0.09, 0.08, 0.0, MARROW)
        for side in (-1, 1):
            base_canvas.ellipse(side * 0.45, -0.08, 0.45, 0.07, side * -30.0, BONE)
        # Orbits in front: fat around the eyes' fluid.
        front = intracranial & (y < np.float32(-0.6 * brain_v)) & ~brain
        labels[front] = FAT
        labels[intracranial & (base > 0) & ~brain] = base[intracranial & (base > 0) & ~brain]
        for side in (-1, 1):
            canvas.ellipse(side * rng.uniform(0.3, 0.4), rng.uniform(-0.92, -0.8), 0.15, 0.14, 0.0, CSF)
        # The posterior fossa is full: bone, air cells and sinuses (dark on every sequence) fill
        # what the brain leaves of the skull base, with only a thin rim of CSF around the brain.
        rim = max(round(unit * rng.uniform(2.0, 5.0)), 1)
        near = cv2.dilate(brain.astype(np.uint8), cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * rim + 1, 2 * rim + 1))) > 0
        labels[intracranial & ~near & (labels == CSF) & (y > np.float32(-0.6 * brain_v))] = BONE
        labels[brain] = WHITE
        fissure_range: tuple[float, float] | None = None
    else:
        brain = rho <= brain_edge
        labels[brain] = WHITE
        fissure_range = {"midbrain": (-0.3, 0.75), "basal_ganglia": (-0.5, 0.6),
                         "ventricular": (-0.45, 0.5)}.get(level, (0.0, 0.0))
        if z > 0.62 and z < 0.66:
            fissure_range = (-0.2, 0.3)

    depth = cv2.distanceTransform(brain.astype(np.uint8), cv2.DIST_L2, 3)
    folded = rng.uniform() >= SMOOTH_SHARE
    _draw_cortex(rng, labels, brain, depth, theta, x, y, unit, z, atrophy, fissure_range,
                 (brain_u, brain_v), level, folded)

    if level == "posterior_fossa":
        if folded:
            _draw_folia(rng, labels, brain, depth, y, unit, brain_v, pons_v + pons_r)
        # Prepontine cistern in front of the pons only; the middle cerebellar peduncles join the
        # pons to the hemispheres, so the pons is no isolated round mass.
        canvas.ellipse(0.0, pons_v - pons_r * 0.25, pons_r * 1.1, pons_r * 0.85, 0.0, CSF)
        for side in (-1, 1):
            canvas.ellipse(side * pons_r * 1.1, pons_v + pons_r * 0.5, pons_r * 0.9, pons_r * 0.45,
                           side * -25.0, WHITE)
        canvas.ellipse(0.0, pons_v, pons_r, pons_r * 0.9, 0.0, WHITE)
        canvas.ellipse(0.0, rng.uniform(0.08, 0.14), 0.09 * ventricle_scale, 0.06, 0.0, CSF)  # fourth
        canvas.ellipse(0.0, rng.uniform(0.8, 0.9), 0.08, 0.12, 0.0, CSF)  # cisterna magna
    elif level == "midbrain":
        star = [(0.12 * np.sin(a), -0.24 + 0.1 * np.cos(a)) for a in np.linspace(0, 2 * np.pi, 6)[:-1]]
        canvas.polygon(star, CSF)  # suprasellar cistern
        canvas.ellipse(0.0, 0.05, 0.22, 0.19, 0.0, CSF)  # interpeduncular and ambient cisterns
        for side in (-1, 1):  # cerebral peduncles
            canvas.ellipse(side * 0.08, 0.03, 0.1, 0.14, side * 25.0, WHITE)
        canvas.ellipse(0.0, 0.12, 0.15, 0.08, 0.0, WHITE)  # tectum
        canvas.ellipse(0.0, 0.11, 0.02, 0.02, 0.0, CSF)  # aqueduct
        for i, side in enumerate((-1, 1)):
            canvas.ellipse(side * 0.42, -0.05, 0.025 * sides[i], 0.09 * sides[i], side * 20.0, CSF)
    elif level == "basal_ganglia":
        for i, side in enumerate((-1, 1)):
            canvas.ellipse(side * 0.2, -0.3, 0.07, 0.1, 0.0, DEEP_GRAY)  # caudate head
            canvas.ellipse(side * 0.38, -0.04, 0.1, 0.22, side * 15.0, DEEP_GRAY)  # lentiform
            canvas.ellipse(side * 0.12, 0.13, 0.1, 0.15, 0.0, DEEP_GRAY)  # thalamus
            canvas.ellipse(side * (0.07 + 0.05 * sides[i]), -0.3, 0.06 * sides[i], 0.19 * sides[i],
                           side * rng.uniform(15.0, 30.0), CSF)  # frontal horn
            atrium = (side * (0.16 + 0.07 * sides[i]), rng.uniform(0.4, 0.5))
            canvas.ellipse(*atrium, 0.06 * sides[i], 0.16 * sides[i], -side * rng.uniform(10.0, 30.0), CSF)
            canvas.ellipse(*atrium, 0.03 * sides[i], 0.06 * sides[i], 0.0, CHOROID)
        canvas.ellipse(0.0, 0.08, 0.012 + 0.015 * atrophy, 0.13, 0.0, CSF)  # third ventricle
    elif level == "ventricular":
        for i, side in enumerate((-1, 1)):
            canvas.ellipse(side * 0.2, -0.12, 0.035, 0.22, 0.0, DEEP_GRAY)  # caudate body
            body_u = side * (0.06 + 0.07 * sides[i])
            # A banana: frontal horn, body and atrium along a bowed path.
            canvas.ellipse(body_u * 0.9, -0.3, 0.05 * sides[i], 0.14 * sides[i], side * 12.0, CSF)
            canvas.ellipse(body_u, 0.0, 0.055 * sides[i], 0.25 * sides[i], side * rng.uniform(-6.0, 6.0), CSF)
            canvas.ellipse(body_u * 1.45, 0.3, 0.07 * sides[i], 0.14 * sides[i],
                           -side * rng.uniform(15.0, 35.0), CSF)
            canvas.ellipse(body_u * 1.45, 0.32, 0.03 * sides[i], 0.06, 0.0, CHOROID)
    elif level == "supraventricular" and z < 0.66:
        for i, side in enumerate((-1, 1)):
            canvas.ellipse(side * 0.12, 0.0, 0.025 * sides[i], 0.2 * sides[i], 0.0, CSF)

    draw_spots_and_vessels(rng, labels, brain, depth, canvas, unit, atrophy, level)
    return Anatomy(labels=labels, brain=brain, head=head, intracranial=intracranial,
                   depth=np.asarray(depth, np.float32), level=level, folded=folded)


def _draw_cortex(rng: np.random.Generator, labels: npt.NDArray[np.uint8], brain: BoolArray,
                 depth: FloatArray, theta: FloatArray, x: FloatArray, y: FloatArray, unit: float,
                 z: float, atrophy: float, fissure_range: tuple[float, float] | None,
                 semi: tuple[float, float], level: str, folded: bool) -> None:
    """Gray ribbon along the surface and around every sulcus; CSF in the sulci and fissures.

    Without ``folded``, the ribbon along the surface and the fissures only: no sulci.
    """
    size = labels.shape[0]
    thickness = max(unit * rng.uniform(2.6, 4.6), 0.8)
    sulcus_depth = unit * rng.uniform(10.0, 20.0) * (1.4 if z > 0.62 else 1.0)
    width = max(unit * rng.uniform(1.0, 2.0) * (1.0 + 1.5 * atrophy), 1.2)

    # Sulci: zero set of noise drawn on (angle, depth) so they run inward and meander.
    around = int(rng.integers(50, 80) * (1.5 if level == "posterior_fossa" else 1.0))
    inward = 4
    coarse = rng.standard_normal((inward, around)).astype(np.float32)
    tiled = np.hstack([coarse[:, -3:], coarse, coarse[:, :3]])
    turns = (theta + np.float32(np.pi)) * np.float32(around / (2 * np.pi))
    map_x = (turns + np.float32(3.0)).astype(np.float32)
    map_y = np.minimum(depth * np.float32(1.0 / (1.5 * sulcus_depth)), np.float32(inward - 1))
    # Warping the lookup bends the sulci, so gyri meander instead of radiating like spokes.
    bent = map_x + np.float32(rng.uniform(0.8, 1.6)) * smooth_noise(rng, (size, size), max(around // 5, 4))
    field = np.asarray(cv2.remap(tiled, bent, map_y.astype(np.float32), cv2.INTER_CUBIC), np.float32)
    field += np.float32(0.3) * smooth_noise(rng, (size, size), max(around // 3, 4))
    gx = cv2.Sobel(field, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(field, cv2.CV_32F, 0, 1, ksize=3)
    gradient = np.sqrt(gx * gx + gy * gy) / np.float32(8.0) + np.float32(1e-6)
    # Each sulcus reaches its own depth.
    reach = sulcus_depth * (0.5 + 0.8 * (smooth_noise(rng, (size, size), around // 3) * 0.5 + 0.5))
    excess = np.where(depth < reach, np.abs(field) / gradient - width / 2, np.inf).astype(np.float32)
    if not folded:
        # Drawn and dropped rather than skipped (a few ms): skipping would shift the fissures'
        # draws below, and with them the slices the shipped model was trained on.
        excess[...] = np.inf

    if fissure_range is not None:
        semi_u, semi_v = semi
        offset = rng.uniform(-0.03, 0.03) * semi_u
        bend = rng.uniform(-0.04, 0.04) * semi_u
        midline = np.float32(offset) + np.float32(bend) * (y / np.float32(semi_v)) ** 2
        front, back = fissure_range
        active = (y < np.float32(front * semi_v)) | (y > np.float32(back * semi_v))
        fissure = np.where(active, np.abs(x - midline) - np.float32(width * 0.4), np.inf)
        excess = np.minimum(excess, fissure.astype(np.float32))
        if level in ("midbrain", "basal_ganglia") or (level == "ventricular" and z < 0.5):
            for side in (-1, 1):  # Sylvian fissure, with the insula at its depth
                v = rng.uniform(-0.3, -0.1)
                start = (side * 1.05 * semi_u, v * semi_v)
                knee = (side * rng.uniform(0.72, 0.8) * semi_u, (v + rng.uniform(-0.08, 0.04)) * semi_v)
                end = (side * rng.uniform(0.55, 0.65) * semi_u, (v + rng.uniform(0.02, 0.16)) * semi_v)
                sylvian = np.minimum(_segment_distance(x, y, start, knee), _segment_distance(x, y, knee, end))
                excess = np.minimum(excess, sylvian - np.float32(width * 1.2))

    cortex = brain & ((depth < thickness) | (excess < thickness))
    labels[cortex] = GRAY
    labels[brain & (excess < 0)] = CSF


def _draw_folia(rng: np.random.Generator, labels: npt.NDArray[np.uint8], brain: BoolArray,
                depth: FloatArray, y: FloatArray, unit: float, brain_v: float, front: float) -> None:
    """Cerebellar folia: thin gray leaves and fissures parallel to the surface, a white core.

    Behind ``front`` (brain units, v), the cerebellar cortex is not the cerebrum's radial sulci
    but many fine fissures that follow the outline, over a branching white matter core.
    """
    size = labels.shape[0]
    behind = brain & (y > np.float32(front * brain_v))
    period = max(unit * rng.uniform(3.0, 5.5), 1.6)
    reach = unit * rng.uniform(14.0, 24.0)
    # A little wobble so the leaves meander instead of forming perfect rings.
    phase = depth / np.float32(period) + np.float32(rng.uniform(0.4, 0.9)) * smooth_noise(
        rng, (size, size), int(rng.integers(8, 16)))
    fraction = phase - np.floor(phase)
    leaves = behind & (depth < reach)
    labels[leaves & (fraction < 0.55)] = GRAY
    labels[leaves & (fraction < 0.12) & (depth > 1.5)] = CSF


def draw_spots_and_vessels(rng: np.random.Generator, labels: npt.NDArray[np.uint8], brain: BoolArray,
                           depth: FloatArray, canvas: Canvas, unit: float, atrophy: float,
                           level: str) -> None:
    """What a healthy brain also shows: sinuses, cortical vessels, small white-matter spots.

    They are here so that a bright or dark dot is not, by itself, a tumor.
    """
    if level != "posterior_fossa":
        for v in (-1.0, 1.0):  # superior sagittal sinus, front and back, against the skull
            canvas.polygon([(-0.04, v * 1.03), (0.04, v * 1.03), (0.0, v * 0.97)], VESSEL)
    candidates = np.flatnonzero((labels == CSF).ravel() & brain.ravel() & (depth.ravel() < 6 * unit))
    if candidates.size:
        for index in rng.choice(candidates, int(rng.integers(0, 9))):
            row, col = divmod(int(index), labels.shape[1])
            cv2.circle(labels, (col, row), max(round(unit * rng.uniform(0.5, 1.5)), 1), VESSEL, -1)
    if rng.uniform() < 0.2 + 0.5 * atrophy:
        white = np.flatnonzero((labels == WHITE).ravel())
        if white.size:
            for index in rng.choice(white, int(rng.integers(1, 8))):
                row, col = divmod(int(index), labels.shape[1])
                cv2.circle(labels, (col, row), max(round(unit * rng.uniform(0.8, 2.2)), 1), WHITE_SPOT, -1)
    if rng.uniform() < 0.35:  # periventricular caps beside the ventricles' horns
        ventricles = ((labels == CSF) & (depth > 8 * unit)).astype(np.uint8)
        grown = cv2.dilate(ventricles, cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (max(round(5 * unit), 3),) * 2)) > 0
        labels[grown & (labels == WHITE)] = WHITE_SPOT
