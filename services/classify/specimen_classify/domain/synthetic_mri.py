"""Synthetic MRI-like axial brain slices, with and without a tumor, for training and tests.

No data set can be downloaded where Specimen is built, so the tumor/healthy classifier trains on
slices drawn here: a bright skull ring around a textured brain with gray/white-matter-like
contrast, dark ventricles near the centre, a random pose, a smooth multiplicative bias field and
Rician noise on a black background. A *tumor* slice adds one blob of random size (core radius
5-15 % of the side, so even the smallest spans a few pixels of the CNN's 32x32 input), contrast
(brighter or darker than tissue, optionally ring-enhancing and with an edema halo) and place,
always inside the brain.

Everything is a pure function of its arguments: the same ``seed`` gives byte-identical pixels.
Boxes follow scikit-image's ``bbox`` (and the segment service's) convention,
``(min_row, min_col, max_row, max_col)`` with the maxima exclusive; points are ``(row, col)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

MIN_SIZE = 32
MAX_SIZE = 2048
DEFAULT_SIZE = 256

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class MriSlice:
    """One generated slice and what is known about it.

    Attributes
    ----------
    image : ndarray of uint8, (size, size)
        The gray slice; background is near black.
    brain_mask : ndarray of bool, (size, size)
        Brain tissue inside the skull (ventricles included).
    head_mask : ndarray of bool, (size, size)
        Everything that is not background: skull and brain.
    tumor_mask : ndarray of bool, (size, size)
        The tumor core (all False for a healthy slice); always inside ``brain_mask``.
    has_tumor : bool
    tumor_centre : tuple of float or None
        ``(row, col)`` of the tumor's centre in image pixels; ``None`` without a tumor.
    tumor_radius : float or None
        Mean radius of the tumor core in pixels; ``None`` without a tumor.
    brain_box : tuple of int
        Bounding box of ``brain_mask``, ``(min_row, min_col, max_row, max_col)``, max exclusive.
    head_box : tuple of int
        Bounding box of ``head_mask``: what a threshold-and-largest-contour crop finds.
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


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size={size!r} is out of range; use an integer in [{MIN_SIZE}, {MAX_SIZE}]")


def _check_seed(seed: int | tuple[int, ...]) -> None:
    values = seed if isinstance(seed, tuple) else (seed,)
    if not values or any(isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0 for v in values):
        raise ValueError(f"seed={seed!r} is invalid; use a non-negative integer (or a tuple of them)")


def _box(mask: npt.NDArray[np.bool_]) -> Box:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return (0, 0, 0, 0)
    return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> npt.NDArray[np.float32]:
    """Low-frequency noise in about [-1, 1]: a coarse random grid upsampled bicubically."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    scale = float(np.abs(field).max()) or 1.0
    return np.asarray(field / scale, dtype=np.float32)


def _ellipse_radius(
    rows: npt.NDArray[np.float32], cols: npt.NDArray[np.float32], semi_rows: float, semi_cols: float
) -> npt.NDArray[np.float32]:
    """Normalised elliptic radius: 1 on the ellipse, < 1 inside."""
    return np.asarray(np.sqrt((rows / semi_rows) ** 2 + (cols / semi_cols) ** 2), dtype=np.float32)


def _blob_mask(
    rows: npt.NDArray[np.float32],
    cols: npt.NDArray[np.float32],
    centre: tuple[float, float],
    radius: float,
    harmonics: npt.NDArray[np.float64],
    phases: npt.NDArray[np.float64],
) -> npt.NDArray[np.float32]:
    """Distance to an irregular blob's boundary in units of its radius (< 1 inside)."""
    dr, dc = rows - centre[0], cols - centre[1]
    angle = np.arctan2(dr, dc)
    wobble = np.ones_like(angle)
    for k, (amplitude, phase) in enumerate(zip(harmonics, phases, strict=True), start=2):
        wobble += amplitude * np.cos(k * angle + phase)
    return np.asarray(np.hypot(dr, dc) / (radius * wobble), dtype=np.float32)


def mri_slice(seed: int | tuple[int, ...], has_tumor: bool, size: int = DEFAULT_SIZE) -> MriSlice:
    """Draw one MRI-like axial slice, with or without a tumor.

    Parameters
    ----------
    seed : int or tuple of int
        Seed of :func:`numpy.random.default_rng`; the same seed, ``has_tumor`` and ``size``
        give byte-identical pixels. A tuple such as ``(seed, index)`` names one slice of a set.
    has_tumor : bool
        Whether to draw a tumor (the Kaggle set's ``yes``) or not (``no``).
    size : int
        Height and width in pixels, in [32, 2048].

    Returns
    -------
    MriSlice
        The uint8 image and its masks, boxes and tumor geometry.

    Raises
    ------
    ValueError
        If ``seed`` is negative or not an integer, or ``size`` is out of range.

    Examples
    --------
    >>> s = mri_slice(7, has_tumor=True, size=64)
    >>> s.image.shape, s.image.dtype.name, s.has_tumor, bool(s.tumor_mask.any())
    ((64, 64), 'uint8', True, True)
    >>> bool((s.tumor_mask <= s.brain_mask).all())
    True
    """
    _check_seed(seed)
    _check_size(size)
    rng = np.random.default_rng(seed)
    half = size / 2.0
    grid_r, grid_c = np.mgrid[0:size, 0:size].astype(np.float32)
    rows, cols = grid_r - half, grid_c - half

    # Canonical head, centred and upright; the pose is applied afterwards as one warp.
    head_r = size * rng.uniform(0.37, 0.41)
    head_c = head_r * rng.uniform(0.76, 0.88)
    skull = size * rng.uniform(0.025, 0.045)
    gap = size * rng.uniform(0.004, 0.012)
    brain_r, brain_c = head_r - skull - gap, head_c - skull - gap
    head_radius = _ellipse_radius(rows, cols, head_r, head_c)
    inner_radius = _ellipse_radius(rows, cols, head_r - skull, head_c - skull)
    brain_radius = _ellipse_radius(rows, cols, brain_r, brain_c)
    head = head_radius <= 1.0
    brain = brain_radius <= 1.0

    tissue = np.zeros((size, size), np.float32)
    tissue[head & (inner_radius > 1.0)] = rng.uniform(0.78, 0.95)  # scalp fat and bone marrow
    tissue[(inner_radius <= 1.0) & ~brain] = rng.uniform(0.08, 0.16)  # CSF between skull and brain

    # Gray matter in a folded cortical band, brighter white matter within: T1-like contrast.
    gray, white = rng.uniform(0.38, 0.46), rng.uniform(0.52, 0.62)
    folds = _smooth_noise(rng, size, int(rng.integers(10, 18)))
    cortex_depth = rng.uniform(0.72, 0.82) + 0.08 * folds
    matter = np.where(brain_radius > cortex_depth, gray, white).astype(np.float32)
    matter = np.asarray(cv2.GaussianBlur(matter, (0, 0), max(size / 256.0, 0.5)), dtype=np.float32)
    texture = 0.05 * _smooth_noise(rng, size, int(rng.integers(20, 32))) + 0.04 * _smooth_noise(rng, size, 6)
    tissue[brain] = (matter + texture)[brain]

    # Ventricles: two mirrored dark crescents beside the midline and a slit between them.
    ventricles = np.zeros((size, size), np.uint8)
    v_len = brain_r * rng.uniform(0.28, 0.42)
    v_wid = brain_c * rng.uniform(0.06, 0.12)
    v_off = brain_c * rng.uniform(0.10, 0.18)
    v_tilt = rng.uniform(10.0, 28.0)
    v_shift = brain_r * rng.uniform(-0.10, 0.05)
    for side in (-1, 1):
        centre = (round(half + side * v_off), round(half + v_shift))
        cv2.ellipse(ventricles, centre, (max(round(v_wid), 1), max(round(v_len), 1)),
                    side * v_tilt, 0, 360, 1, -1)
        horn = (round(half + side * v_off * 1.6), round(half + v_shift + v_len * 0.9))
        cv2.ellipse(ventricles, horn, (max(round(v_wid * 0.7), 1), max(round(v_len * 0.35), 1)),
                    -side * 35.0, 0, 360, 1, -1)
    cv2.line(ventricles, (round(half), round(half + v_shift - v_len * 0.3)),
             (round(half), round(half + v_shift + v_len * 0.5)), 1, max(round(size / 200), 1))
    ventricle_mask = (ventricles > 0) & brain
    tissue[ventricle_mask] = rng.uniform(0.06, 0.14)

    tumor = np.zeros((size, size), np.float32)
    centre_rc: tuple[float, float] | None = None
    radius: float | None = None
    if has_tumor:
        radius = float(size * rng.uniform(0.05, 0.15))
        harmonics = rng.uniform(0.0, 0.12, 3)
        phases = rng.uniform(0.0, 2 * np.pi, 3)
        # Keep the whole blob (radius x max wobble) inside the brain ellipse.
        reach = radius * (1.0 + harmonics.sum())
        room_r, room_c = max(brain_r - reach, 1.0), max(brain_c - reach, 1.0)
        theta, rho = rng.uniform(0.0, 2 * np.pi), np.sqrt(rng.uniform(0.0, 1.0))
        centre_rc = (rho * room_r * np.sin(theta), rho * room_c * np.cos(theta))
        distance = _blob_mask(rows, cols, centre_rc, radius, harmonics, phases)
        core = (distance <= 1.0) & brain
        base = float(np.median(tissue[brain]))
        bright = bool(rng.integers(0, 2))
        level = rng.uniform(0.78, 0.95) if bright else rng.uniform(0.12, 0.26)
        if rng.uniform() < 0.5:  # edema: a soft halo of slightly changed signal
            halo = np.clip((rng.uniform(1.4, 1.9) - distance) / 0.5, 0.0, 1.0) * brain
            tissue += halo * (base * rng.uniform(-0.25, 0.25))
        blob = np.full((size, size), level, np.float32)
        if rng.uniform() < 0.4:  # ring enhancement: a bright rim around a darker core
            rim = np.clip(1.0 - np.abs(distance - 0.85) / 0.15, 0.0, 1.0)
            blob = np.float32(rng.uniform(0.15, 0.3)) + rim * np.float32(rng.uniform(0.6, 0.75))
        blob += 0.04 * _smooth_noise(rng, size, int(rng.integers(24, 40)))
        tissue[core] = blob[core]
        tumor[core] = 1.0
    tissue = np.asarray(cv2.GaussianBlur(tissue, (0, 0), max(size / 512.0, 0.4)), dtype=np.float32)
    tissue[~head] = 0.0

    # Pose: rotation about the centre, scale and shift, as one affine warp of pixels and masks.
    angle = rng.uniform(-25.0, 25.0)
    scale = rng.uniform(0.85, 1.05)
    shift = rng.uniform(-0.05, 0.05, 2) * size
    matrix = np.asarray(cv2.getRotationMatrix2D((half, half), angle, scale), dtype=np.float64)
    matrix[:, 2] += shift

    def warp(plane: npt.NDArray[Any], interpolation: int) -> npt.NDArray[Any]:
        return cv2.warpAffine(plane, matrix, (size, size), flags=interpolation,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    signal = warp(tissue, cv2.INTER_LINEAR)
    head_out = warp(head.astype(np.uint8), cv2.INTER_NEAREST) > 0
    brain_out = warp(brain.astype(np.uint8), cv2.INTER_NEAREST) > 0
    tumor_out = (warp(tumor.astype(np.uint8), cv2.INTER_NEAREST) > 0) & brain_out

    # Smooth multiplicative bias field, as a receive coil's sensitivity, in scanner coordinates.
    u, v = cols / half, rows / half
    coefficients = rng.uniform(-0.18, 0.18, 5)
    bias = np.exp(coefficients[0] * u + coefficients[1] * v + coefficients[2] * u * v
                  + coefficients[3] * u * u + coefficients[4] * v * v).astype(np.float32)
    signal *= bias

    # Rician noise: the magnitude of a complex signal with Gaussian noise on both channels.
    sigma = rng.uniform(0.01, 0.03)
    real = signal + rng.normal(0.0, sigma, (size, size)).astype(np.float32)
    imaginary = rng.normal(0.0, sigma, (size, size)).astype(np.float32)
    magnitude = np.sqrt(real * real + imaginary * imaginary)
    image = np.clip(np.rint(magnitude * 255.0), 0, 255).astype(np.uint8)

    tumor_centre: tuple[float, float] | None = None
    if centre_rc is not None and radius is not None:
        col, row = matrix @ np.array([centre_rc[1] + half, centre_rc[0] + half, 1.0])
        tumor_centre = (float(row), float(col))
        radius = radius * scale
    return MriSlice(
        image=image,
        brain_mask=brain_out,
        head_mask=head_out,
        tumor_mask=tumor_out,
        has_tumor=has_tumor,
        tumor_centre=tumor_centre,
        tumor_radius=radius,
        brain_box=_box(brain_out),
        head_box=_box(head_out),
    )
