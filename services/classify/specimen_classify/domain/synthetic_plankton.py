"""Synthetic plankton frames: dark objects of five categories on a light, vignetted background.

The plankton classifier is trained on frames drawn here, because no labelled set can be
downloaded where Specimen is built. Each category has its own shape statistics, distinct but
overlapping as in real samples:

* *phytoplankton aggregates*: mid-size, irregular and fluffy (strands and lumps), low solidity,
  translucent;
* *fecal aggregates*: irregular but compact clusters of lumps, darker;
* *single cells*: small, round and smooth;
* *cylindrical fecal pellets*: elongated rods with round ends, high eccentricity, dark;
* *ovoid fecal pellets*: ellipses of medium eccentricity, dark.

Objects never overlap, never touch each other (a gap of :data:`MIN_GAP` pixels) and never touch
the border. Everything is a pure function of its arguments: the same ``seed`` gives
byte-identical pixels. Boxes follow scikit-image's ``bbox`` (and the segment service's)
convention, ``(min_row, min_col, max_row, max_col)`` with the maxima exclusive; centres are
``(row, col)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain import vignette_morphology

CATEGORIES: tuple[str, ...] = (
    "phytoplankton aggregates",
    "fecal aggregates",
    "single cells",
    "cylindrical fecal pellets",
    "ovoid fecal pellets",
)
"""The category names, exactly as the classifier reports them."""

FOLDER_NAMES: dict[str, str] = {category: category.replace(" ", "_") for category in CATEGORIES}
"""Category → folder name of a training set laid out one folder per class."""

CATEGORY_OF_FOLDER: dict[str, str] = {folder: category for category, folder in FOLDER_NAMES.items()}
"""Folder name → category, the inverse of :data:`FOLDER_NAMES`."""

MIN_GAP = 6
"""Pixels of background kept between two objects, and between an object and the border."""

MIN_SIDE = 64
MAX_SIDE = 8192
MAX_PLACEMENT_ATTEMPTS = 300
DEFAULT_SIDE = 1024
DEFAULT_PER_CATEGORY = 8

Box = tuple[int, int, int, int]
Patch = tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class PlanktonObject:
    """One object drawn into a frame.

    Attributes
    ----------
    object_id : int
        Its value in :attr:`PlanktonFrame.labels` (1, 2, ...).
    category : str
        One of :data:`CATEGORIES`.
    bbox : tuple of int
        ``(min_row, min_col, max_row, max_col)``, max exclusive.
    centre : tuple of float
        Centroid ``(row, col)`` of its pixels.
    area : int
        Number of its pixels.
    """

    object_id: int
    category: str
    bbox: Box
    centre: tuple[float, float]
    area: int


@dataclass(frozen=True)
class PlanktonFrame:
    """A generated frame with its ground truth.

    Attributes
    ----------
    image : ndarray of uint8, (height, width)
        The frame: dark objects on a light, vignetted, noisy background.
    background : ndarray of uint8, (height, width)
        The same frame without the objects (same vignetting and noise).
    labels : ndarray of int32, (height, width)
        0 for background, ``i`` for the pixels of object ``i``.
    objects : tuple of PlanktonObject
        One record per object, in id order.
    """

    image: npt.NDArray[np.uint8]
    background: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int32]
    objects: tuple[PlanktonObject, ...]


def _largest_component(canvas: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=8)
    if count <= 1:
        return np.zeros(canvas.shape, bool)
    keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.asarray(labels == keep)


def _patch(canvas: npt.NDArray[np.uint8], shade: npt.NDArray[np.float32]) -> Patch:
    """Crop a drawn canvas to its largest component's box, with the darkness inside it."""
    mask = _largest_component(canvas)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    mask = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    shade = shade[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return mask, np.where(mask, shade, np.float32(0.0)).astype(np.float32)


def _texture(rng: np.random.Generator, shape: tuple[int, int], strength: float) -> npt.NDArray[np.float32]:
    noise = rng.standard_normal(shape).astype(np.float32)
    return np.asarray(1.0 + strength * cv2.GaussianBlur(noise, (0, 0), 1.5) * 2.0, dtype=np.float32)


def _single_cell(rng: np.random.Generator) -> Patch:
    radius = rng.uniform(3.5, 8.5)
    axes = (round(radius), max(round(radius * rng.uniform(0.8, 1.0)), 2))
    side = 2 * axes[0] + 5
    canvas = np.zeros((side, side), np.uint8)
    cv2.ellipse(canvas, (side // 2, side // 2), axes, rng.uniform(0, 180), 0, 360, 1, -1)
    rr, cc = np.mgrid[0:side, 0:side].astype(np.float32) - side // 2
    # A lighter centre, as a cell's translucent cytoplasm inside its darker wall.
    falloff = np.clip(np.hypot(rr, cc) / max(axes[0], 1), 0.0, 1.0)
    shade = rng.uniform(0.4, 0.7) * (0.7 + 0.3 * falloff)
    return _patch(canvas, shade.astype(np.float32))


def _ovoid_pellet(rng: np.random.Generator) -> Patch:
    major = rng.uniform(9.0, 20.0)
    minor = major * rng.uniform(0.5, 0.78)
    side = 2 * round(major) + 5
    canvas = np.zeros((side, side), np.uint8)
    cv2.ellipse(canvas, (side // 2, side // 2), (round(major), max(round(minor), 2)),
                rng.uniform(0, 180), 0, 360, 1, -1)
    shade = rng.uniform(0.62, 0.88) * _texture(rng, canvas.shape, 0.05)
    return _patch(canvas, shade)


def _cylindrical_pellet(rng: np.random.Generator) -> Patch:
    length = rng.uniform(26.0, 70.0)
    width = max(round(length * rng.uniform(0.12, 0.28)), 4)
    side = round(length) + width + 6
    canvas = np.zeros((side, side), np.uint8)
    angle = rng.uniform(0.0, np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    centre = np.array([side / 2.0, side / 2.0])
    bend = rng.uniform(-0.08, 0.08) * length  # pellets are often slightly curved
    points = [centre - direction * length / 2, centre + normal * bend, centre + direction * length / 2]
    for start, end in pairwise(points):
        cv2.line(canvas, (round(start[0]), round(start[1])), (round(end[0]), round(end[1])), 1, width)
    shade = rng.uniform(0.68, 0.9) * _texture(rng, canvas.shape, 0.04)
    return _patch(canvas, shade)


def _fecal_aggregate(rng: np.random.Generator) -> Patch:
    reach = rng.uniform(9.0, 18.0)
    side = 2 * round(reach) + 24
    canvas = np.zeros((side, side), np.uint8)
    position = np.array([side / 2.0, side / 2.0])
    for _ in range(int(rng.integers(4, 9))):
        lump = rng.uniform(3.5, 8.0)
        cv2.ellipse(canvas, (round(position[0]), round(position[1])),
                    (round(lump), max(round(lump * rng.uniform(0.5, 1.0)), 2)),
                    rng.uniform(0, 180), 0, 360, 1, -1)
        step = rng.normal(0.0, lump * 0.6, 2)
        position = np.clip(position + step, side / 2.0 - reach, side / 2.0 + reach)
    closing = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    canvas = np.asarray(cv2.morphologyEx(canvas, cv2.MORPH_CLOSE, closing), dtype=np.uint8)
    shade = rng.uniform(0.7, 0.92) * _texture(rng, canvas.shape, 0.08)
    return _patch(canvas, shade)


def _phytoplankton_aggregate(rng: np.random.Generator) -> Patch:
    reach = rng.uniform(14.0, 32.0)
    side = 2 * round(reach) + 12
    canvas = np.zeros((side, side), np.uint8)
    centre = (side // 2, side // 2)
    cv2.circle(canvas, centre, max(round(reach * rng.uniform(0.12, 0.25)), 2), 1, -1)
    # Strands reaching out from the core, with lumps along and at their ends: fluffy, porous.
    for _ in range(int(rng.integers(6, 14))):
        angle = rng.uniform(0.0, 2 * np.pi)
        extent = reach * rng.uniform(0.45, 1.0)
        wiggle = rng.uniform(-0.5, 0.5)
        middle = (round(centre[0] + extent * 0.5 * np.cos(angle + wiggle)),
                  round(centre[1] + extent * 0.5 * np.sin(angle + wiggle)))
        tip = (round(centre[0] + extent * np.cos(angle)), round(centre[1] + extent * np.sin(angle)))
        thickness = int(rng.integers(1, 4))
        cv2.line(canvas, centre, middle, 1, thickness)
        cv2.line(canvas, middle, tip, 1, thickness)
        cv2.circle(canvas, tip, int(rng.integers(1, 5)), 1, -1)
        if rng.uniform() < 0.6:
            cv2.circle(canvas, middle, int(rng.integers(1, 4)), 1, -1)
    shade = rng.uniform(0.32, 0.62) * _texture(rng, canvas.shape, 0.12)
    return _patch(canvas, shade)


_DRAWERS: dict[str, Callable[[np.random.Generator], Patch]] = {
    "phytoplankton aggregates": _phytoplankton_aggregate,
    "fecal aggregates": _fecal_aggregate,
    "single cells": _single_cell,
    "cylindrical fecal pellets": _cylindrical_pellet,
    "ovoid fecal pellets": _ovoid_pellet,
}


def _check_counts(counts: Mapping[str, int]) -> dict[str, int]:
    unknown = sorted(set(counts) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"counts has unknown categories {unknown}; use names from {list(CATEGORIES)}")
    for category, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
            raise ValueError(f"counts[{category!r}]={count!r} is invalid; use an integer >= 0")
    return {category: int(counts.get(category, 0)) for category in CATEGORIES}


def _check_side(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) \
            or not MIN_SIDE <= value <= MAX_SIDE:
        raise ValueError(f"{name}={value!r} is out of range; use an integer in [{MIN_SIDE}, {MAX_SIDE}]")


def _check_seed(seed: int | tuple[int, ...]) -> None:
    values = seed if isinstance(seed, tuple) else (seed,)
    if not values or any(isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0 for v in values):
        raise ValueError(f"seed={seed!r} is invalid; use a non-negative integer (or a tuple of them)")


def plankton_frame(
    seed: int | tuple[int, ...],
    counts: Mapping[str, int] | None = None,
    height: int = DEFAULT_SIDE,
    width: int = DEFAULT_SIDE,
) -> PlanktonFrame:
    """Draw one frame with the requested number of objects per category.

    Parameters
    ----------
    seed : int or tuple of int
        Seed of :func:`numpy.random.default_rng`; the same arguments give byte-identical pixels.
        A tuple such as ``(seed, index)`` names one frame of a set.
    counts : mapping of str to int, optional
        Objects per category (names from :data:`CATEGORIES`; missing ones get 0). Default:
        :data:`DEFAULT_PER_CATEGORY` of each.
    height, width : int
        Frame size in pixels, each in [64, 8192].

    Returns
    -------
    PlanktonFrame
        The uint8 frame, its object-free background, the int32 label image and one record per
        object, ids 1..n in placement order.

    Raises
    ------
    ValueError
        If an argument is invalid, or the objects do not fit: lower ``counts`` or enlarge the
        frame.

    Examples
    --------
    >>> f = plankton_frame(3, {"single cells": 2, "ovoid fecal pellets": 1}, height=128, width=128)
    >>> [o.category for o in f.objects].count("single cells"), int(f.labels.max())
    (2, 3)
    """
    _check_seed(seed)
    _check_side("height", height)
    _check_side("width", width)
    wanted = _check_counts(counts if counts is not None else dict.fromkeys(CATEGORIES, DEFAULT_PER_CATEGORY))
    rng = np.random.default_rng(seed)

    order = [category for category in CATEGORIES for _ in range(wanted[category])]
    order = [order[i] for i in rng.permutation(len(order))]
    labels = np.zeros((height, width), np.int32)
    darkness = np.zeros((height, width), np.float32)
    blocked = np.zeros((height, width), bool)
    grow = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * MIN_GAP + 1, 2 * MIN_GAP + 1))
    records: list[tuple[int, str]] = []
    for object_id, category in enumerate(order, start=1):
        mask, shade = _DRAWERS[category](rng)
        ph, pw = mask.shape
        if ph + 2 * MIN_GAP >= height or pw + 2 * MIN_GAP >= width:
            raise ValueError(f"a {category!r} object of {ph}x{pw} pixels does not fit a "
                             f"{height}x{width} frame; enlarge height and width")
        for _ in range(MAX_PLACEMENT_ATTEMPTS):
            top = int(rng.integers(MIN_GAP, height - ph - MIN_GAP + 1))
            left = int(rng.integers(MIN_GAP, width - pw - MIN_GAP + 1))
            if not blocked[top:top + ph, left:left + pw][mask].any():
                break
        else:
            raise ValueError(f"could not place object {object_id} ({category!r}) after "
                             f"{MAX_PLACEMENT_ATTEMPTS} attempts: the {height}x{width} frame is too "
                             f"crowded for counts={wanted}; lower counts or enlarge the frame")
        labels[top:top + ph, left:left + pw][mask] = object_id
        darkness[top:top + ph, left:left + pw][mask] = shade[mask]
        r0, c0 = max(top - MIN_GAP, 0), max(left - MIN_GAP, 0)
        r1, c1 = min(top + ph + MIN_GAP, height), min(left + pw + MIN_GAP, width)
        padded = np.zeros((ph + 2 * MIN_GAP, pw + 2 * MIN_GAP), np.uint8)
        padded[MIN_GAP:MIN_GAP + ph, MIN_GAP:MIN_GAP + pw] = mask
        halo = cv2.dilate(padded, grow) > 0
        blocked[r0:r1, c0:c1] |= halo[r0 - (top - MIN_GAP):r1 - (top - MIN_GAP),
                                      c0 - (left - MIN_GAP):c1 - (left - MIN_GAP)]
        records.append((object_id, category))

    # Light background, darker towards the corners (vignetting), with a gentle illumination tilt.
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    centre_r = height / 2.0 * (1.0 + rng.uniform(-0.1, 0.1))
    centre_c = width / 2.0 * (1.0 + rng.uniform(-0.1, 0.1))
    radius = np.hypot((rows - centre_r) / (height / 2.0), (cols - centre_c) / (width / 2.0)) / np.sqrt(2.0)
    vignette = 1.0 - rng.uniform(0.15, 0.35) * radius ** 2
    tilt = (1.0 + rng.uniform(-0.03, 0.03) * (cols / width - 0.5)
            + rng.uniform(-0.03, 0.03) * (rows / height - 0.5))
    light = rng.uniform(205.0, 238.0) * vignette * tilt
    noise = rng.normal(0.0, rng.uniform(1.5, 4.0), (height, width)).astype(np.float32)
    soft = cv2.GaussianBlur(darkness, (0, 0), 0.6)
    image = np.clip(np.rint(light * (1.0 - soft) + noise), 0, 255).astype(np.uint8)
    background = np.clip(np.rint(light + noise), 0, 255).astype(np.uint8)
    return PlanktonFrame(image, background, labels, _describe(labels, records))


def _describe(labels: npt.NDArray[np.int32], records: list[tuple[int, str]]) -> tuple[PlanktonObject, ...]:
    objects = []
    for object_id, category in records:
        rows, cols = np.nonzero(labels == object_id)
        objects.append(PlanktonObject(
            object_id=object_id,
            category=category,
            bbox=(int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1),
            centre=(float(rows.mean()), float(cols.mean())),
            area=int(rows.size),
        ))
    return tuple(objects)


def object_crop(frame: PlanktonFrame, object_id: int, padding: int = 4) -> npt.NDArray[np.uint8]:
    """Cut one object out of a frame, its neighbours painted over with background.

    Parameters
    ----------
    frame : PlanktonFrame
    object_id : int
        The object's id, in ``1..len(frame.objects)``.
    padding : int
        Background pixels around the object's bbox, clipped to the frame; in [0, MIN_GAP - 2]
        (more would reach a neighbour's blurred edge).

    Returns
    -------
    ndarray of uint8
        A new array; the frame is not modified.

    Raises
    ------
    ValueError
        If ``object_id`` or ``padding`` is out of range.

    Examples
    --------
    >>> f = plankton_frame(1, {"single cells": 2}, height=96, width=96)
    >>> crop = object_crop(f, 1, padding=2)
    >>> b = f.objects[0].bbox
    >>> crop.shape[0] <= b[2] - b[0] + 4
    True
    """
    if isinstance(object_id, bool) or not isinstance(object_id, int | np.integer) \
            or not 1 <= object_id <= len(frame.objects):
        raise ValueError(f"object_id={object_id!r} is out of range; use an id in 1..{len(frame.objects)}")
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer) \
            or not 0 <= padding <= MIN_GAP - 2:
        raise ValueError(f"padding={padding!r} is out of range; use an integer in [0, {MIN_GAP - 2}]")
    height, width = frame.labels.shape
    r0, c0, r1, c1 = frame.objects[object_id - 1].bbox
    r0, c0 = max(r0 - padding, 0), max(c0 - padding, 0)
    r1, c1 = min(r1 + padding, height), min(c1 + padding, width)
    labels = frame.labels[r0:r1, c0:c1]
    others = ((labels != 0) & (labels != object_id)).astype(np.uint8)
    others = cv2.dilate(others, np.ones((5, 5), np.uint8)) > 0
    others &= labels != object_id
    return np.where(others, frame.background[r0:r1, c0:c1], frame.image[r0:r1, c0:c1]).astype(np.uint8)


# Vignettes: one object per crop, as instruments and EcoTaxa store them ---------------------------


@dataclass(frozen=True)
class VignetteVariety:
    """How much the vignettes of a set vary: the knobs of domain randomisation.

    Real vignettes come from many instruments (ZooScan, UVP, FlowCam, ISIIS, microscopes): their
    pixel size, background, polarity, colour, focus and compression differ, and an organism is
    often translucent, carries thin spines or setae, touches a piece of debris or shares its crop
    with a scale bar. Each vignette draws its own value of each knob from these ranges, so a
    model trained on a set cannot lean on any one instrument's look.

    Attributes
    ----------
    scale : (float, float)
        Pixels per unit of the frame generator's shapes (an object's size in the crop).
    light_background : (float, float)
        Background gray of dark-on-light vignettes.
    dark_background : (float, float)
        Background gray of bright-on-dark vignettes.
    bright_on_dark, rgb, translucent, spines, touching_debris, loose_debris, scale_bar, jpeg : float
        Probability of each look.
    unevenness : (float, float)
        Amplitude of the background's gradient and low-frequency blotches, in gray levels.
    noise : (float, float)
        Pixel noise sigma, gray levels.
    blur : (float, float)
        Gaussian focus blur sigma, pixels.
    margin : (float, float)
        Background around the object, as a share of its size.
    native_shapes : float
        Probability of drawing the organism at the crop's pixel size in one of its class's
        forms (:mod:`~specimen_classify.domain.vignette_morphology`, sizes from its
        ``SIZE_RANGE``; translucency and spines then at the class's own rates) instead of the
        frame's shape scaled by ``scale``.
    opacity : (float, float)
        Factor on the organism's darkness (a faint organism has a low contrast).
    gamma : (float, float)
        Exponent of the stored tone curve.
    halo, low_resolution, sharpen : float
        Probability of a bright ring outside the edge (phase contrast), of a coarse sensor's
        crop scaled up for storage (1.5x-3.5x), of an unsharp mask.
    vignetting : (float, float)
        Illumination fall-off within the crop, a share of the background.
    jpeg_quality : (int, int)
        Quality range of the JPEG-stored vignettes.
    """

    scale: tuple[float, float] = (1.4, 5.0)
    light_background: tuple[float, float] = (150.0, 245.0)
    dark_background: tuple[float, float] = (5.0, 60.0)
    bright_on_dark: float = 0.3
    rgb: float = 0.5
    translucent: float = 0.35
    spines: float = 0.3
    touching_debris: float = 0.25
    loose_debris: float = 0.4
    scale_bar: float = 0.3
    jpeg: float = 0.6
    unevenness: tuple[float, float] = (0.0, 25.0)
    noise: tuple[float, float] = (0.5, 6.0)
    blur: tuple[float, float] = (0.0, 1.2)
    margin: tuple[float, float] = (0.08, 0.6)
    native_shapes: float = 0.0
    opacity: tuple[float, float] = (1.0, 1.0)
    gamma: tuple[float, float] = (1.0, 1.0)
    halo: float = 0.0
    low_resolution: float = 0.0
    sharpen: float = 0.0
    vignetting: tuple[float, float] = (0.0, 0.0)
    jpeg_quality: tuple[int, int] = (60, 95)


FIRST_VARIETY = VignetteVariety()
"""The variety of the first vignette generator (the frame's shapes scaled up, one look per
class): kept to reproduce earlier figures."""

TRAINING_VARIETY = VignetteVariety(
    scale=(1.2, 6.0),
    light_background=(110.0, 250.0),
    dark_background=(0.0, 70.0),
    bright_on_dark=0.3,
    rgb=0.5,
    translucent=0.35,
    spines=0.3,
    touching_debris=0.3,
    loose_debris=0.5,
    scale_bar=0.3,
    jpeg=0.6,
    unevenness=(0.0, 35.0),
    noise=(0.5, 8.0),
    blur=(0.0, 2.0),
    margin=(0.05, 0.8),
    native_shapes=0.85,
    opacity=(0.5, 1.0),
    gamma=(0.65, 1.5),
    halo=0.15,
    low_resolution=0.25,
    sharpen=0.15,
    vignetting=(0.0, 0.2),
    jpeg_quality=(35, 95),
)
"""The variety of the default model's training vignettes."""

CALIBRATION_VARIETY = VignetteVariety(
    scale=(1.0, 7.0),
    light_background=(90.0, 252.0),
    dark_background=(0.0, 90.0),
    bright_on_dark=0.45,
    rgb=0.6,
    translucent=0.5,
    spines=0.45,
    touching_debris=0.45,
    loose_debris=0.7,
    scale_bar=0.45,
    jpeg=0.75,
    unevenness=(5.0, 50.0),
    noise=(1.0, 9.0),
    blur=(0.2, 2.4),
    margin=(0.03, 1.0),
    native_shapes=0.85,
    opacity=(0.4, 1.0),
    gamma=(0.5, 1.8),
    halo=0.3,
    low_resolution=0.4,
    sharpen=0.3,
    vignetting=(0.0, 0.3),
    jpeg_quality=(25, 95),
)
"""The variety the unclear threshold is chosen on (never trained on): the training variety's
knobs pushed further (lower contrast, more clutter, blur, noise, compression, halos), drawn from
its own seeds, so that the threshold is set where the forest meets crops a little unlike its
training ones, as it will in the field."""

SHIFTED_VARIETY = VignetteVariety(
    scale=(1.1, 6.5),
    light_background=(120.0, 250.0),
    dark_background=(0.0, 80.0),
    bright_on_dark=0.5,
    rgb=0.7,
    translucent=0.5,
    spines=0.5,
    touching_debris=0.4,
    loose_debris=0.6,
    scale_bar=0.5,
    jpeg=0.8,
    unevenness=(5.0, 40.0),
    noise=(1.0, 9.0),
    blur=(0.3, 1.8),
    margin=(0.05, 0.9),
)
"""A harder, shifted variety for evaluation only (never for training or model selection): wider
scales, more clutter, noisier and blurrier, more bright-on-dark and colour crops. Drawn from
another seed range, it measures how a model trained on :data:`TRAINING_VARIETY` holds when the
look of the data moves; it is *not* an independent generator family (same shapes)."""

MIN_VIGNETTE = 50
MIN_DARKNESS = 0.25
"""Least darkness (90th percentile over the body) of a natively drawn organism."""
MAX_VIGNETTE = 400

# Hue of each category's body in RGB vignettes (a weak cue: each crop jitters it and tints the
# background): chlorophyll-green to brown aggregates, grey-brown pellets, greenish cells.
_BODY_TINT: dict[str, tuple[float, float, float]] = {
    "phytoplankton aggregates": (0.75, 0.95, 0.6),
    "fecal aggregates": (0.9, 0.8, 0.6),
    "single cells": (0.7, 0.95, 0.75),
    "cylindrical fecal pellets": (0.85, 0.75, 0.6),
    "ovoid fecal pellets": (0.85, 0.78, 0.65),
}


@dataclass(frozen=True)
class PlanktonVignette:
    """One generated vignette.

    Attributes
    ----------
    image : ndarray of uint8, (h, w) or (h, w, 3)
        Gray or RGB pixels (RGB order), 50 to 400 pixels a side.
    category : str
    mask : ndarray of bool, (h, w)
        The organism's pixels (body and spines; not debris nor scale bar).
    bright_on_dark, has_scale_bar, jpeg : bool
        How it looks, and whether it should be stored as JPEG.
    jpeg_quality : int
    """

    image: npt.NDArray[np.uint8]
    category: str
    mask: npt.NDArray[np.bool_]
    bright_on_dark: bool
    has_scale_bar: bool
    jpeg: bool
    jpeg_quality: int


def _between(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _spines(
    rng: np.random.Generator, mask: npt.NDArray[np.bool_], scale: float, inside: bool = False
) -> npt.NDArray[np.float32]:
    """Thin straight or bent spines and setae leaving the body outward (darkness map); with
    ``inside``, each shortened until it ends within the crop."""
    h, w = mask.shape
    out = np.zeros((h, w), np.float32)
    rows, cols = np.nonzero(mask)
    centre = np.array([cols.mean(), rows.mean()])
    size = max(h, w)
    for _ in range(int(rng.integers(1, 7))):
        pick = int(rng.integers(rows.size))
        start = np.array([cols[pick], rows[pick]], np.float64)
        away = start - centre
        norm = np.hypot(*away)
        angle = np.arctan2(away[1], away[0]) if norm > 0 else rng.uniform(0, 2 * np.pi)
        angle += rng.normal(0.0, 0.35)
        length = size * rng.uniform(0.3, 1.2)
        bend = rng.normal(0.0, 0.25)
        middle = start + length / 2 * np.array([np.cos(angle), np.sin(angle)])
        tip = middle + length / 2 * np.array([np.cos(angle + bend), np.sin(angle + bend)])
        if inside:  # the instrument's crop holds the whole organism, setae included
            for _ in range(8):
                if all(4 <= v[0] < w - 4 and 4 <= v[1] < h - 4 for v in (middle, tip)):
                    break
                middle, tip = start + (middle - start) * 0.7, start + (tip - start) * 0.7
        width = 1 if scale < 3 or rng.uniform() < 0.7 else 2
        shade = float(rng.uniform(0.35, 0.8))
        for a, b in pairwise((start, middle, tip)):
            cv2.line(out, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])), shade, width, cv2.LINE_AA)
    return out


def _blob(rng: np.random.Generator, radius: float) -> npt.NDArray[np.float32]:
    """An irregular piece of debris: a few overlapping ellipses, some darkness texture."""
    side = int(2 * radius + 6)
    canvas = np.zeros((side, side), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        centre = (int(side / 2 + rng.normal(0, radius / 3)), int(side / 2 + rng.normal(0, radius / 3)))
        axes = (max(int(radius * rng.uniform(0.4, 1.0)), 1), max(int(radius * rng.uniform(0.2, 0.8)), 1))
        cv2.ellipse(canvas, centre, axes, rng.uniform(0, 180), 0, 360, float(rng.uniform(0.3, 0.9)), -1)
    return canvas


def _paste(target: npt.NDArray[np.float32], patch: npt.NDArray[np.float32], top: int, left: int) -> None:
    h, w = target.shape
    ph, pw = patch.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + ph, h), min(left + pw, w)
    if r1 <= r0 or c1 <= c0:
        return
    region = target[r0:r1, c0:c1]
    np.maximum(region, patch[r0 - top : r1 - top, c0 - left : c1 - left], out=region)


def _background(
    rng: np.random.Generator, shape: tuple[int, int], level: float, amplitude: float
) -> npt.NDArray[np.float32]:
    """An uneven background: a tilt plus low-frequency blotches around ``level``."""
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    tilt = rng.uniform(-1, 1) * (cols / w - 0.5) + rng.uniform(-1, 1) * (rows / h - 0.5)
    coarse = rng.standard_normal((max(h // 24, 2), max(w // 24, 2))).astype(np.float32)
    blotches = np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
    blotches /= max(float(np.abs(blotches).max()), 1e-6)
    field = level + amplitude * (0.6 * tilt + 0.4 * blotches)
    return np.asarray(field, np.float32)


def plankton_vignette(
    seed: int | tuple[int, ...], category: str, variety: VignetteVariety = TRAINING_VARIETY
) -> PlanktonVignette:
    """Draw one vignette of ``category``: the object centred in a crop of 50 to 400 pixels.

    The object's shape comes from the frame generator's drawer of its category, scaled to the
    crop's pixel size; then, each with its probability in ``variety``: a translucent body
    (darker rim, lighter inside), thin spines or setae, a piece of debris touching it, loose
    debris specks, a scale bar in a corner; an uneven background, dark-on-light or
    bright-on-dark, gray or RGB (tinted), focus blur and pixel noise. The same arguments give
    the same pixels.

    Raises
    ------
    ValueError
        An unknown category or a bad seed.

    Examples
    --------
    >>> v = plankton_vignette(1, "single cells")
    >>> 50 <= min(v.image.shape[:2]) and max(v.image.shape[:2]) <= 400, v.category
    (True, 'single cells')
    """
    _check_seed(seed)
    if category not in _DRAWERS:
        raise ValueError(f"category {category!r} is unknown; use one of {list(CATEGORIES)}")
    rng = np.random.default_rng(seed)
    native = variety.native_shapes > 0 and rng.uniform() < variety.native_shapes
    if native:
        low, high = vignette_morphology.SIZE_RANGE[category]
        size = min(float(np.exp(rng.uniform(np.log(low), np.log(high)))), MAX_VIGNETTE * 0.8)
        mask, shade = vignette_morphology.MORPHOLOGIES[category](rng, size)
        if max(mask.shape) > MAX_VIGNETTE * 0.85:  # horns or strands reached past the size
            fit = MAX_VIGNETTE * 0.85 / max(mask.shape)
            area = cv2.INTER_AREA
            shade = np.asarray(cv2.resize(shade, None, fx=fit, fy=fit, interpolation=area), np.float32)
            mask = cv2.resize(mask.astype(np.float32), None, fx=fit, fy=fit, interpolation=area) > 0.5
            shade = np.where(mask, shade, 0.0).astype(np.float32)
        scale = max(size / 30.0, 1.0)  # pixels per unit of the frame's shapes, about
    else:
        body_mask, body_shade = _DRAWERS[category](rng)
        scale = _between(rng, variety.scale)
        size = max(body_mask.shape) * scale
        if size > MAX_VIGNETTE * 0.85:
            scale *= MAX_VIGNETTE * 0.85 / size
        shade = np.asarray(cv2.resize(body_shade, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR),
                           np.float32)
        # Smoothed before the cut: an upscaled pixel mask has staircase edges no organism has.
        grown = cv2.resize(body_mask.astype(np.float32), None, fx=scale, fy=scale,
                           interpolation=cv2.INTER_LINEAR)
        mask = cv2.GaussianBlur(grown, (0, 0), 0.5 * scale) > 0.5
        shade = np.where(mask, shade, 0.0).astype(np.float32)
    if variety.opacity != (1.0, 1.0):
        shade = (shade * _between(rng, variety.opacity)).astype(np.float32)
    translucent = variety.translucent * (vignette_morphology.TRANSLUCENCY[category] if native else 1.0)
    if rng.uniform() < translucent:
        # Light passes through the body: the rim stays dark, the inside fades towards background.
        inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        rim = np.exp(-inside / max(1.5 * scale, 1.0))
        floor = rng.uniform(0.15, 0.5)
        shade *= (floor + (1 - floor) * rim).astype(np.float32)
    if native and mask.any():
        # An instrument stores what its segmentation found: the body stands out of the background.
        dense = float(np.percentile(shade[mask], 90))
        if dense < MIN_DARKNESS:
            shade = (shade * (MIN_DARKNESS / max(dense, 1e-3))).astype(np.float32)

    ph, pw = shade.shape
    margin = _between(rng, variety.margin) * max(ph, pw)
    height = int(np.clip(ph + 2 * margin + rng.uniform(0, 0.3) * ph, MIN_VIGNETTE, MAX_VIGNETTE))
    width = int(np.clip(pw + 2 * margin + rng.uniform(0, 0.3) * pw, MIN_VIGNETTE, MAX_VIGNETTE))
    top = (height - ph) // 2 + int(rng.integers(-2, 3))
    left = (width - pw) // 2 + int(rng.integers(-2, 3))
    darkness = np.zeros((height, width), np.float32)
    organism = np.zeros((height, width), np.float32)
    _paste(organism, np.asarray(shade, np.float32), top, left)
    placed = organism > 0
    spines = variety.spines * (vignette_morphology.SPINES[category] if native else 1.0)
    if rng.uniform() < spines and placed.any():
        drawn = _spines(rng, placed, scale, inside=variety.native_shapes > 0)
        organism = np.maximum(organism, drawn * float(organism[placed].mean() / 0.6))
    np.maximum(darkness, organism, out=darkness)

    rows, cols = np.nonzero(placed)
    if rng.uniform() < variety.touching_debris and rows.size:
        pick = int(rng.integers(rows.size))
        radius = max(ph, pw) * rng.uniform(0.08, 0.3)
        piece = _blob(rng, radius)
        _paste(darkness, piece, rows[pick] - piece.shape[0] // 2, cols[pick] - piece.shape[1] // 2)
    if rng.uniform() < variety.loose_debris:
        for _ in range(int(rng.integers(1, 5))):
            piece = _blob(rng, rng.uniform(1.0, 4.0))
            _paste(darkness, piece, int(rng.integers(0, height)), int(rng.integers(0, width)))
    bar = rng.uniform() < variety.scale_bar
    if bar:
        thick = int(rng.integers(1, 4))
        length = int(rng.integers(15, max(16, min(width // 2, 80))))
        row = height - int(rng.integers(3, 9)) - thick
        col = int(rng.integers(3, 9)) if rng.uniform() < 0.6 else width - length - int(rng.integers(3, 9))
        darkness[row : row + thick, col : col + length] = 0.95
        if rng.uniform() < 0.5 and row > 16:
            text = np.zeros((height, width), np.uint8)  # putText draws into 8-bit images only
            cv2.putText(text, "1 mm" if rng.uniform() < 0.5 else "500 um", (col, row - 4),
                        cv2.FONT_HERSHEY_PLAIN, 0.8, 230, 1, cv2.LINE_AA)
            np.maximum(darkness, text.astype(np.float32) / 255.0, out=darkness)

    blur = _between(rng, variety.blur)
    if blur > 0.05:
        darkness = np.asarray(cv2.GaussianBlur(darkness, (0, 0), blur), np.float32)
    dark_mode = rng.uniform() < variety.bright_on_dark
    level = _between(rng, variety.dark_background if dark_mode else variety.light_background)
    field = _background(rng, (height, width), level, _between(rng, variety.unevenness))
    if variety.vignetting != (0.0, 0.0):
        # Illumination falling off from a centre somewhere in or near the crop.
        rr, cc = np.mgrid[0:height, 0:width].astype(np.float32)
        cr, cx = rng.uniform(-0.1, 1.1) * height, rng.uniform(-0.1, 1.1) * width
        reach = np.hypot((rr - cr) / height, (cc - cx) / width) / np.sqrt(2.0)
        field = field * (1.0 - _between(rng, variety.vignetting) * np.clip(reach, 0, 1) ** 2)
    if dark_mode:
        # Dark-field: the body scatters light, brighter where it is denser.
        gain = rng.uniform(120.0, 230.0)
        gray = field + darkness * gain
    else:
        gray = field * (1.0 - darkness * rng.uniform(0.6, 1.0))
    if variety.halo > 0 and rng.uniform() < variety.halo:
        # Phase contrast and refraction (FlowCam, microscopes): a bright ring outside the edge.
        sigma = rng.uniform(1.0, 3.0) + 0.02 * max(height, width)
        spread = np.asarray(cv2.GaussianBlur(darkness, (0, 0), sigma))
        ring = np.clip(spread - darkness, 0.0, None)
        gray = gray + (-1.0 if dark_mode else 1.0) * ring * rng.uniform(40.0, 140.0)
    noise = _between(rng, variety.noise)
    if rng.uniform() < variety.rgb:
        if native and rng.uniform() < 0.5:  # a colour that says nothing of the class
            other = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
            tint = np.array(_BODY_TINT[other]) * rng.uniform(0.8, 1.2, 3)
        else:
            tint = np.array(_BODY_TINT[category]) * rng.uniform(0.85, 1.15, 3)
        paper = rng.uniform(0.92, 1.08, 3)
        weight = np.clip(darkness, 0, 1)[:, :, None]
        colour = paper * (1 - weight) + tint * weight
        image = gray[:, :, None] * colour
    else:
        image = gray
    if variety.low_resolution > 0 and rng.uniform() < variety.low_resolution:
        # A coarse sensor (UVP, in-situ cameras) whose crop was scaled up for storage.
        factor = rng.uniform(1.5, 3.5)
        coarse = (max(int(width / factor), 8), max(int(height / factor), 8))
        small = cv2.resize(np.asarray(image, np.float32), coarse, interpolation=cv2.INTER_AREA)
        back = cv2.INTER_LINEAR if rng.uniform() < 0.5 else cv2.INTER_NEAREST
        image = np.asarray(cv2.resize(small, (width, height), interpolation=back), np.float64)
    if variety.sharpen > 0 and rng.uniform() < variety.sharpen:
        soft = cv2.GaussianBlur(np.asarray(image, np.float32), (0, 0), rng.uniform(1.0, 2.5))
        image = image + rng.uniform(0.5, 1.5) * (image - soft)
    image = image + rng.normal(0.0, noise, np.shape(image))
    if variety.gamma != (1.0, 1.0):
        image = 255.0 * (np.clip(image, 0, 255) / 255.0) ** _between(rng, variety.gamma)
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    quality = variety.jpeg_quality
    return PlanktonVignette(
        image=pixels,
        category=category,
        mask=placed,
        bright_on_dark=bool(dark_mode),
        has_scale_bar=bool(bar),
        jpeg=bool(rng.uniform() < variety.jpeg),
        jpeg_quality=int(rng.integers(quality[0], quality[1] + 1)),
    )
