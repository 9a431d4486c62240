"""How a drawn slice becomes the picture a scanner, a PACS export or a web page gives.

In order: pose (rotation, a left-right flip, scale and shift, sometimes a quarter turn; the
brain always stays in the field, the scalp may leave it), a smooth multiplicative bias field
(receive-coil sensitivity), limited resolution (k-space truncation with its Gibbs ringing,
blur, or a small matrix upsampled), Rician or Gaussian noise, windowing to 8 bits with a gamma,
sometimes burnt-in annotation text in a corner, and sometimes JPEG compression.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain.synthetic_mri.anatomy import smooth_noise

_ANNOTATIONS = ("R", "L", "A", "P", "IM", "SE", "SL", "mm", "W", "C")


@dataclass(frozen=True)
class Pose:
    """Canonical → image affine transform (OpenCV's 2x3 ``(x, y)`` matrix) and its scale."""

    matrix: npt.NDArray[np.float64]
    scale: float


def draw_pose(rng: np.random.Generator, brain: npt.NDArray[np.bool_]) -> Pose:
    """A random pose that keeps the whole of ``brain`` inside the image."""
    size = brain.shape[0]
    half = (size - 1) / 2.0
    rows = np.flatnonzero(brain.any(axis=1))
    cols = np.flatnonzero(brain.any(axis=0))
    extent = float(np.hypot(max(abs(rows[0] - half), abs(rows[-1] - half)) + 1,
                            max(abs(cols[0] - half), abs(cols[-1] - half)) + 1))
    angle = float(np.clip(rng.normal(0.0, 8.0), -25.0, 25.0))
    if rng.uniform() < 0.04:  # exported sideways or upside down
        angle += float(rng.choice([90.0, 180.0, 270.0]))
    flip = rng.uniform() < 0.5
    scale = min(rng.uniform(0.8, 1.2), (half - 1.0) / extent)
    room = max(half - scale * extent - 1.0, 0.0)
    shift = rng.uniform(-0.9, 0.9, 2) * room
    rotation = np.vstack([cv2.getRotationMatrix2D((half, half), angle, scale), [0.0, 0.0, 1.0]])
    mirror = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) if flip else np.eye(3)
    matrix = (rotation @ mirror)[:2]
    matrix[:, 2] += shift
    return Pose(matrix=matrix, scale=scale)


def warp(plane: npt.NDArray[np.float32 | np.uint8], pose: Pose,
         interpolation: int) -> npt.NDArray[np.float32 | np.uint8]:
    """``plane`` in image coordinates; outside the canonical frame is 0."""
    size = plane.shape[0]
    return np.asarray(cv2.warpAffine(plane, pose.matrix, (size, size), flags=interpolation,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0))


def _limited_resolution(rng: np.random.Generator, signal: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    size = signal.shape[0]
    choice = rng.uniform()
    if choice < 0.4:
        # Acquired on a smaller k-space matrix: truncation blurs and rings at sharp edges.
        keep = rng.uniform(0.3, 0.95, 2) if rng.uniform() < 0.4 else np.repeat(rng.uniform(0.3, 0.95), 2)
        spectrum = np.fft.rfft2(signal)
        fy = np.abs(np.fft.fftfreq(size))[:, None] * 2
        fx = np.fft.rfftfreq(size)[None, :] * 2
        window = (fy <= keep[0]) & (fx <= keep[1])
        if rng.uniform() < 0.5:  # a soft filter, as most scanners apply, tames the ringing
            window = window * np.cos(np.minimum(fy / keep[0], 1.0) * np.pi / 2) ** 0.5 \
                * np.cos(np.minimum(fx / keep[1], 1.0) * np.pi / 2) ** 0.5
        return np.asarray(np.fft.irfft2(spectrum * window, s=signal.shape), np.float32)
    if choice < 0.75:
        sigma = rng.uniform(0.3, 1.4) * size / 256.0
        return np.asarray(cv2.GaussianBlur(signal, (0, 0), max(sigma, 0.3)), np.float32)
    if choice < 0.9:
        small = max(round(size * rng.uniform(0.35, 0.75)), 8)
        reduced = cv2.resize(signal, (small, small), interpolation=cv2.INTER_AREA)
        method = cv2.INTER_LINEAR if rng.uniform() < 0.5 else cv2.INTER_CUBIC
        return np.asarray(cv2.resize(reduced, (size, size), interpolation=method), np.float32)
    return signal


def _annotate(rng: np.random.Generator, image: npt.NDArray[np.uint8], head: npt.NDArray[np.bool_]) -> None:
    """Burn one or two short labels into free corners, as exported slices often carry."""
    size = image.shape[0]
    scale = size / 700.0
    thickness = max(round(size / 400.0), 1)
    for _ in range(int(rng.integers(1, 3))):
        text = str(rng.choice(_ANNOTATIONS))
        if rng.uniform() < 0.6:
            text += f"{int(rng.integers(1, 300))}"
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        margin = max(round(size * 0.02), 1)
        if width + 2 * margin >= size or height + 2 * margin >= size:
            return
        left = margin if rng.uniform() < 0.5 else size - margin - width
        top = margin if rng.uniform() < 0.5 else size - margin - height
        if head[max(top - thickness, 0):top + height + 2 * thickness, left:left + width].any():
            continue
        cv2.putText(image, text, (left, top + height), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    int(rng.integers(150, 256)), thickness, cv2.LINE_AA)


def acquire(rng: np.random.Generator, signal: npt.NDArray[np.float32],
            head: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """The posed ``signal`` (about 0-1) as an 8-bit picture; ``head`` is where the head is."""
    size = signal.shape[0]
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    v, u = axis[:, None], axis[None, :]
    strength = rng.uniform(0.0, 0.35)
    c = rng.uniform(-strength, strength, 5).astype(np.float32)
    log_bias = c[0] * u + c[1] * v + c[2] * u * v + c[3] * u * u + c[4] * v * v
    log_bias = log_bias + np.float32(strength * 0.5) * smooth_noise(rng, (size, size), 3)
    signal = signal * np.exp(log_bias)
    signal = _limited_resolution(rng, signal)

    # Noise relative to the tissue's own level, so a dim family is not drowned after windowing.
    inside = signal[::3, ::3][head[::3, ::3]]
    level = float(np.percentile(inside, 99.0)) if inside.size else 1.0
    sigma = np.float32(rng.uniform(0.005, 0.05) * max(level, 0.05))
    real = signal + rng.standard_normal((size, size), dtype=np.float32) * sigma
    if rng.uniform() < 0.7:  # magnitude images: Rician, with its noise floor in the background
        imaginary = rng.standard_normal((size, size), dtype=np.float32) * sigma
        magnitude = np.sqrt(real * real + imaginary * imaginary)
    else:
        magnitude = np.maximum(real, 0.0)

    sample = magnitude[::3, ::3][head[::3, ::3]]
    top = float(np.percentile(sample, rng.uniform(98.5, 99.9))) if sample.size else 1.0
    scaled = np.clip(magnitude * np.float32(rng.uniform(190.0, 255.0) / max(top, 1e-3)), 0.0, 255.0)
    gamma = np.float32(rng.uniform(0.8, 1.25))
    image = np.rint(255.0 * (scaled / np.float32(255.0)) ** gamma).astype(np.uint8)

    if rng.uniform() < 0.15:
        _annotate(rng, image, head)
    if rng.uniform() < 0.3:
        quality = int(rng.integers(20, 91))
        encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        image = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE), np.uint8)
    return np.asarray(image, np.uint8)
