"""Synthetic MRI-like axial brain slices, with and without a tumor, for training and tests.

No data set can be downloaded where Specimen is built, so the tumor/healthy classifier trains on
slices drawn here. A model trained on one narrow look fails on every other, so each slice draws
its whole appearance at random (domain randomisation), as real slices vary:

- anatomy (:mod:`.anatomy`): slice level from the posterior fossa to the vertex, with the
  ventricles, cisterns and deep nuclei of that level; cortex folded into gyri and sulci, or in
  a fifth of the brains smooth (as thick or blurred slices show it);
  head shape, atrophy and left-right asymmetry; skull and scalp, or skull-stripped; in a share
  of the slices (:mod:`.template`) real anatomy instead, cut and warped from the MNI ICBM152
  template, mostly axially, some coronally or sagittally;
- contrast (:mod:`.contrast`): T1, T1 post-contrast, T2 or FLAIR, with jittered levels;
- lesions (:mod:`.lesions`): ring-enhancing with a necrotic core, homogeneous bright or dark,
  infiltrative, multiple, small or extra-axial; with or without edema and mass effect;
- acquisition (:mod:`.acquisition`): pose, bias field, resolution and ringing, Rician or
  Gaussian noise, windowing, annotations and JPEG artefacts.

Everything is a pure function of its arguments: the same ``seed`` gives byte-identical pixels.
The anatomy, contrast and acquisition draw from streams of their own (the template's cut too),
so ``mri_slice(s, True)`` and ``mri_slice(s, False)`` show the same brain, scanned alike, with
and without a tumor.
Boxes follow scikit-image's ``bbox`` (and the segment service's) convention,
``(min_row, min_col, max_row, max_col)`` with the maxima exclusive; points are ``(row, col)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain.synthetic_mri.acquisition import acquire, draw_pose, warp
from specimen_classify.domain.synthetic_mri.anatomy import (
    BRAIN_LABELS,
    LEVEL_EDGES,
    LEVELS,
    draw_anatomy,
    smooth_noise,
)
from specimen_classify.domain.synthetic_mri.contrast import CONTRASTS, draw_signals
from specimen_classify.domain.synthetic_mri.lesions import (
    LESION_WEIGHTS,
    LESIONS,
    displace,
    paint_lesions,
    plan_lesions,
)
from specimen_classify.domain.synthetic_mri.template import TEMPLATE_SHARE, draw_template_anatomy

__all__ = ["ANATOMIES", "CONTRASTS", "DEFAULT_SIZE", "GENERATOR", "LESIONS", "LEVELS", "MAX_SIZE",
           "MIN_SIZE", "MriSlice", "mri_slice"]

GENERATOR = "specimen-mri-phantom/6"
"""Name and version of this generator, for model cards: a model trained on its slices says so."""
MIN_SIZE = 32
MAX_SIZE = 2048
DEFAULT_SIZE = 256
ANATOMIES = ("phantom", "template")
"""Where a slice's anatomy comes from: drawn (:mod:`.anatomy`) or cut from the MNI template
(:mod:`.template`, :data:`~.template.TEMPLATE_SHARE` of the slices)."""
SKULL_STRIPPED_SHARE = 0.3
"""Share of slices drawn skull-stripped, as many research sets are."""

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class MriSlice:
    """One generated slice and what is known about it.

    Attributes
    ----------
    image : ndarray of uint8, (size, size)
        The gray slice; background is near black.
    brain_mask : ndarray of bool, (size, size)
        Brain tissue inside the skull (ventricles and sulci included; an extra-axial tumor too).
    head_mask : ndarray of bool, (size, size)
        Everything that is not background: scalp, skull and brain (the brain alone when
        skull-stripped). The scalp may run off the image's edge.
    tumor_mask : ndarray of bool, (size, size)
        The tumor (all foci; edema excluded); all False for a healthy slice; always inside
        ``brain_mask``.
    has_tumor : bool
    tumor_centre : tuple of float or None
        ``(row, col)`` of the (largest) tumor focus's centre in image pixels; ``None`` without one.
    tumor_radius : float or None
        Mean radius of that focus in pixels; ``None`` without a tumor.
    brain_box : tuple of int
        Bounding box of ``brain_mask``, ``(min_row, min_col, max_row, max_col)``, max exclusive.
    head_box : tuple of int
        Bounding box of ``head_mask``: about what a threshold-and-largest-contour crop finds.
    contrast : str
        One of :data:`CONTRASTS`: ``T1``, ``T1c`` (post-contrast), ``T2`` or ``FLAIR``.
    level : str
        One of :data:`LEVELS`, from ``posterior_fossa`` to ``vertex``: where an axial slice lies
        (a coronal or sagittal one reports the level drawn for it, which it does not show).
    skull_stripped : bool
    folded : bool
        Whether the cortex has sulci (and the cerebellum folia); a share of brains is drawn
        smooth (:data:`~.anatomy.SMOOTH_SHARE`).
    anatomy_source : str
        One of :data:`ANATOMIES`: ``phantom`` (drawn) or ``template`` (real anatomy, cut).
    plane : str
        ``axial``, or ``coronal`` or ``sagittal`` for some template cuts
        (:data:`~.template.PLANE_WEIGHTS`).
    lesion : str or None
        One of :data:`LESIONS`; ``None`` for a healthy slice.
    lesion_count : int
        Number of tumor foci (0 when healthy).
    """

    image: npt.NDArray[np.uint8]
    brain_mask: npt.NDArray[np.bool_]
    head_mask: npt.NDArray[np.bool_]
    tumor_mask: npt.NDArray[np.bool_]
    has_tumor: bool
    tumor_centre: tuple[float, float] | None
    tumor_radius: float | None
    brain_box: Box
    head_box: Box
    contrast: str
    level: str
    skull_stripped: bool
    folded: bool
    anatomy_source: str
    plane: str
    lesion: str | None
    lesion_count: int


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size={size!r} is out of range; use an integer in [{MIN_SIZE}, {MAX_SIZE}]")


def _check_seed(seed: int | tuple[int, ...]) -> None:
    values = seed if isinstance(seed, tuple) else (seed,)
    if not values or any(isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0 for v in values):
        raise ValueError(f"seed={seed!r} is invalid; use a non-negative integer (or a tuple of them)")


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name}={value!r} is unknown; use one of {', '.join(allowed)}")


def _box(mask: npt.NDArray[np.bool_]) -> Box:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return (0, 0, 0, 0)
    return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def mri_slice(seed: int | tuple[int, ...], has_tumor: bool, size: int = DEFAULT_SIZE, *,
              contrast: str | None = None, level: str | None = None, lesion: str | None = None,
              anatomy_source: str | None = None) -> MriSlice:
    """Draw one MRI-like axial slice, with or without a tumor.

    Parameters
    ----------
    seed : int or tuple of int
        Seed of the slice; the same seed, ``has_tumor``, ``size`` and choices give
        byte-identical pixels. A tuple such as ``(seed, index)`` names one slice of a set.
    has_tumor : bool
        Whether to draw a tumor (the Kaggle set's ``yes``) or not (``no``).
    size : int
        Height and width in pixels, in [32, 2048].
    contrast, level, lesion, anatomy_source : str, optional
        Pin the contrast family (:data:`CONTRASTS`), slice level (:data:`LEVELS`), lesion kind
        (:data:`LESIONS`, ignored without a tumor) or anatomy source (:data:`ANATOMIES`) instead
        of drawing it.

    Returns
    -------
    MriSlice
        The uint8 image, its masks and boxes, the tumor's geometry and what was drawn.

    Raises
    ------
    ValueError
        If ``seed`` is negative or not an integer, ``size`` is out of range, or a choice is unknown.

    Examples
    --------
    >>> s = mri_slice(7, has_tumor=True, size=64)
    >>> s.image.shape, s.image.dtype.name, s.has_tumor, bool(s.tumor_mask.any())
    ((64, 64), 'uint8', True, True)
    >>> bool((s.tumor_mask <= s.brain_mask).all())
    True
    >>> mri_slice(7, has_tumor=False, size=64, contrast="FLAIR").contrast
    'FLAIR'
    """
    _check_seed(seed)
    _check_size(size)
    _check_choice("contrast", contrast, CONTRASTS)
    _check_choice("level", level, LEVELS)
    _check_choice("lesion", lesion, LESIONS)
    _check_choice("anatomy_source", anatomy_source, ANATOMIES)
    # A fifth stream for the template leaves the phantom's four streams (and slices) as they were.
    streams = np.random.SeedSequence(list(seed) if isinstance(seed, tuple) else seed).spawn(5)
    anatomy_rng, contrast_rng, lesion_rng, acquisition_rng, template_rng = (
        np.random.default_rng(s) for s in streams)

    z = anatomy_rng.uniform()
    if level is not None:
        index = LEVELS.index(level)
        low, high = LEVEL_EDGES[index], LEVEL_EDGES[index + 1]
        z = low + (high - low) * anatomy_rng.uniform(0.02, 0.98)
    source = anatomy_source or ANATOMIES[int(template_rng.uniform() < TEMPLATE_SHARE)]
    anatomy = (draw_template_anatomy(template_rng, size, z) if source == "template"
               else draw_anatomy(anatomy_rng, size, z))
    drawn_contrast = CONTRASTS[int(contrast_rng.integers(len(CONTRASTS)))]
    signals = draw_signals(contrast_rng, contrast or drawn_contrast)
    skull_stripped = bool(acquisition_rng.uniform() < SKULL_STRIPPED_SHARE)

    labels = anatomy.labels
    kind = str(lesion_rng.choice(LESIONS, p=LESION_WEIGHTS))
    foci = plan_lesions(lesion_rng, lesion or kind, anatomy) if has_tumor else []
    main = max(foci, key=lambda f: f.radius) if foci else None
    if main is not None and main.push > 0:
        labels = displace(labels, anatomy.depth, main)

    signal = signals.tissue[labels]
    parenchyma = np.isin(labels, BRAIN_LABELS)
    grain = contrast_rng.uniform(0.03, 0.08) * (
        0.6 * smooth_noise(contrast_rng, (size, size), int(contrast_rng.integers(24, 48)))
        + 0.4 * smooth_noise(contrast_rng, (size, size), 6))
    signal = signal * (1.0 + np.where(parenchyma, grain, 0.0)).astype(np.float32)
    tumor = paint_lesions(lesion_rng, signal, labels, foci, signals, anatomy) if foci else \
        np.zeros((size, size), np.bool_)
    brain = anatomy.brain | tumor
    head = brain if skull_stripped else anatomy.head
    if skull_stripped:
        signal[~brain] = 0.0
    # Partial volume: tissue borders are never sharper than about a pixel.
    signal = np.asarray(cv2.GaussianBlur(signal, (0, 0), max(0.6 * size / 256.0, 0.4)), np.float32)

    pose = draw_pose(acquisition_rng, brain)
    signal_out = np.asarray(warp(signal, pose, cv2.INTER_LINEAR), np.float32)
    head_out, brain_out, tumor_out = (
        np.asarray(warp(mask.astype(np.uint8), pose, cv2.INTER_NEAREST)) > 0 for mask in (head, brain, tumor))
    tumor_out &= brain_out
    image = acquire(acquisition_rng, signal_out, head_out)

    tumor_centre: tuple[float, float] | None = None
    tumor_radius: float | None = None
    if main is not None:
        col, row = pose.matrix @ np.array([main.centre[1], main.centre[0], 1.0])
        tumor_centre, tumor_radius = (float(row), float(col)), main.radius * pose.scale
    return MriSlice(
        image=image,
        brain_mask=brain_out,
        head_mask=head_out,
        tumor_mask=tumor_out,
        has_tumor=has_tumor,
        tumor_centre=tumor_centre,
        tumor_radius=tumor_radius,
        brain_box=_box(brain_out),
        head_box=_box(head_out),
        contrast=contrast or drawn_contrast,
        level=anatomy.level,
        skull_stripped=skull_stripped,
        folded=anatomy.folded,
        anatomy_source=source,
        plane=anatomy.plane,
        lesion=(lesion or kind) if has_tumor else None,
        lesion_count=len(foci),
    )
