"""Is this input like what the MRI model learned? Cheap image checks, then a feature distance.

A CNN answers *something* for any pixels, and a photograph of a cat is as likely as not to come
back "tumor, 1.0". Two gates stand before a label is answered:

1. **Image checks** (:func:`unfamiliar_image`), before the network, on the decoded pixels and
   what the crop found: an MRI slice is gray (a photograph has colour), roughly square (not a
   banner or a line of text), has a dark background around a bright head (a document is bright
   at its borders, a texture photograph has no background at all), the head is rounded (not a
   checkerboard or a silhouette) and holds many gray levels (not a filled drawing).
2. **Mahalanobis distance** (:func:`mahalanobis_scores`, Lee et al., 2018) of the network's
   penultimate features to the nearest class mean, with one covariance shared by the classes,
   all fitted on the training split (:func:`fit_feature_statistics`). An input whose score is above
   the threshold chosen on the validation split (its 99th percentile by default, recorded in the
   card) is unlike the training slices, whatever probability the last layer gives it.

Either gate makes the answer *uncertain* (``out_of_distribution``) instead of a label. Pure numpy
and OpenCV; the trainer fits the statistics, the serving runtime applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from specimen_classify.domain.preprocessing import THRESHOLD, BrainCrop

COLOUR_CHROMA = 40
"""A pixel whose largest and smallest RGB channels differ by more than this (of 255) is coloured.
JPEG chroma noise and the tints of scanner software stay well below it."""
MAX_COLOURED_FRACTION = 0.02
"""More coloured pixels than this share and the picture is a colour photograph, not a slice (an
MRI screenshot's coloured annotations or cursor cover far less)."""
MAX_ASPECT = 2.5
"""Longest over shortest image side accepted: slices are square or near it, with margins."""
MIN_DARK_FRACTION = 0.10
"""Least share of the image darker than the head threshold: a slice has background around the
head (a picture filled edge to edge by texture has none)."""
MIN_DARK_BORDER = 0.30
"""Least share of the image's outer border
(:data:`~specimen_classify.domain.preprocessing.BORDER_FRACTION` of each side) that is dark:
a slice's corners and edges are background, a document's and most photographs' are not."""
MIN_SOLIDITY = 0.7
"""Least area of the head's outline over its convex hull's: a head (even cut by the image edge, or
with a lesion at its rim) is rounded; text, scattered shapes or a silhouette are not. Not higher:
a skull-stripped low slice (cerebellum, pons and the temporal poles, with notches between them)
measures 0.78-0.85, and at 0.85 more than half of them were refused as not a head."""
MIN_ENTROPY_BITS = 3.0
"""Least entropy of the head's gray levels: tissue, noise and bias give any slice (even an 8-level
JPEG) more; a filled drawing or binary mask has one or two levels."""
OOD_PERCENTILE = 99.0
"""Percentile of the validation split's scores used as the threshold: about 1 % of slices like
the training ones are expected to be refused."""


def unfamiliar_image(pixels: npt.NDArray[Any], crop: BrainCrop) -> str | None:
    """Why the decoded picture cannot be an MRI slice, or None when it passes the cheap checks.

    Parameters
    ----------
    pixels : ndarray
        As :func:`~specimen_classify.domain.preprocessing.gray_uint8` accepts: gray, RGB or RGBA,
        uint8 or uint16 (colour is one of the checks).
    crop : BrainCrop
        :func:`~specimen_classify.domain.preprocessing.brain_crop` of ``pixels``.

    Examples
    --------
    >>> from specimen_classify.domain.preprocessing import brain_crop
    >>> flat = np.zeros((100, 100), np.uint8)
    >>> _ = cv2.circle(flat, (50, 50), 35, 180, -1)
    >>> unfamiliar_image(flat, brain_crop(flat))
    'the head holds too few gray levels to be tissue: 0.2 bits of entropy (a slice has at least 3.0)'
    >>> textured = flat + np.random.default_rng(0).integers(0, 60, flat.shape).astype(np.uint8)
    >>> unfamiliar_image(textured, brain_crop(textured)) is None
    True
    """
    height, width = pixels.shape[:2]
    aspect = max(height, width) / max(1, min(height, width))
    if aspect > MAX_ASPECT:
        return (f"the picture is {width}x{height}, an aspect of {aspect:.1f} "
                f"(an MRI slice is at most {MAX_ASPECT})")
    if pixels.ndim == 3:
        rgb = pixels[:, :, :3].astype(np.float64)
        if pixels.dtype == np.uint16:
            rgb /= 257.0
        chroma = rgb.max(axis=2) - rgb.min(axis=2)
        coloured = float((chroma > COLOUR_CHROMA).mean())
        if coloured > MAX_COLOURED_FRACTION:
            return (f"the picture is in colour: {coloured:.0%} of its pixels are coloured "
                    f"(an MRI slice is gray; at most {MAX_COLOURED_FRACTION:.0%})")
    head = crop.head
    if head.dark_fraction < MIN_DARK_FRACTION:
        return (f"the picture has no dark background: {head.dark_fraction:.0%} of it is darker than "
                f"{THRESHOLD} of 255 (an MRI slice has at least {MIN_DARK_FRACTION:.0%})")
    if head.dark_border < MIN_DARK_BORDER:
        return (f"the picture's border is not background: {head.dark_border:.0%} of it is dark "
                f"(an MRI slice's is at least {MIN_DARK_BORDER:.0%})")
    if head.solidity < MIN_SOLIDITY:
        return (f"the bright region is not one rounded head: solidity {head.solidity:.2f} "
                f"(a head's is at least {MIN_SOLIDITY})")
    if head.entropy < MIN_ENTROPY_BITS:
        return (f"the head holds too few gray levels to be tissue: {head.entropy:.1f} bits of entropy "
                f"(a slice has at least {MIN_ENTROPY_BITS})")
    return None


@dataclass(frozen=True)
class FeatureStatistics:
    """What the Mahalanobis score needs: class means and the shared precision matrix.

    Attributes
    ----------
    means : ndarray of float64, (classes, d)
    precision : ndarray of float64, (d, d)
        Inverse of the shared (shrunk) covariance.
    """

    means: npt.NDArray[np.float64]
    precision: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        means, precision = np.asarray(self.means), np.asarray(self.precision)
        if means.ndim != 2 or precision.shape != (means.shape[1], means.shape[1]):
            raise ValueError(f"means {means.shape} and precision {precision.shape} do not fit: "
                             "need (classes, d) and (d, d)")
        if not (np.isfinite(means).all() and np.isfinite(precision).all()):
            raise ValueError("the feature statistics hold NaN or infinite values")

    @property
    def dimension(self) -> int:
        return int(self.means.shape[1])


def fit_feature_statistics(features: npt.NDArray[np.floating], targets: npt.NDArray[np.integer],
                           classes: int) -> FeatureStatistics:
    """Class means and the shrunk shared covariance's inverse of training features.

    The covariance is pooled over the classes (each sample minus its class mean) and shrunk
    towards a scaled identity with the Ledoit-Wolf weight, so it is invertible even when the
    features outnumber the samples or some never fire (dead ReLUs).

    Raises
    ------
    ValueError
        A class without samples.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets).reshape(-1)
    means = []
    for label in range(classes):
        members = x[y == label]
        if members.shape[0] == 0:
            raise ValueError(f"class {label} has no training features")
        means.append(members.mean(axis=0))
    centred = x - np.stack(means)[y]
    covariance = ledoit_wolf_covariance(centred)
    # A floor keeps a feature that is constant on the training data from dividing by ~0.
    covariance += np.eye(x.shape[1]) * max(1e-6, 1e-6 * float(np.trace(covariance)) / x.shape[1])
    return FeatureStatistics(means=np.stack(means), precision=np.linalg.inv(covariance).astype(np.float64))


def ledoit_wolf_covariance(centred: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """The covariance of already centred samples (n, p), shrunk towards ``mu * I`` with the
    Ledoit-Wolf (2004) weight; the same as scikit-learn's ``ledoit_wolf(x, assume_centered=True)``
    (kept in numpy so the serving package never imports scikit-learn).

    >>> c = ledoit_wolf_covariance(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]]))
    >>> bool(np.allclose(c, c.T)) and bool(np.all(np.linalg.eigvalsh(c) > 0))
    True
    """
    x = np.asarray(centred, dtype=np.float64)
    n, p = x.shape
    empirical = x.T @ x / n
    mu = float(np.trace(empirical)) / p
    squared = x**2
    beta_sum = float(np.sum(squared.T @ squared))
    delta_sum = float(np.sum(empirical**2))
    beta = (beta_sum / n - delta_sum) / (p * n)
    delta = (delta_sum - 2 * mu * float(np.trace(empirical)) + p * mu**2) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    shrunk: npt.NDArray[np.float64] = (1 - shrinkage) * empirical
    shrunk.flat[:: p + 1] += shrinkage * mu
    return shrunk


def mahalanobis_scores(features: npt.NDArray[np.floating],
                       statistics: FeatureStatistics) -> npt.NDArray[np.float64]:
    """Distance of each feature row to its nearest class mean, in shared-covariance units.

    Examples
    --------
    >>> stats = FeatureStatistics(np.array([[0.0, 0.0], [4.0, 0.0]]), np.eye(2))
    >>> mahalanobis_scores(np.array([[0.0, 1.0], [3.0, 0.0]]), stats).tolist()
    [1.0, 1.0]
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != statistics.dimension:
        raise ValueError(f"features of shape {x.shape} do not have the statistics' "
                         f"{statistics.dimension} columns")
    squared = []
    for mean in statistics.means:
        delta = x - mean
        squared.append(np.einsum("ij,jk,ik->i", delta, statistics.precision, delta))
    return np.asarray(np.sqrt(np.maximum(np.min(np.stack(squared), axis=0), 0.0)), dtype=np.float64)


def score_threshold(validation_scores: npt.NDArray[np.floating], percentile: float = OOD_PERCENTILE) -> float:
    """The ``percentile`` of the validation split's scores: above it an input is unfamiliar.

    Examples
    --------
    >>> score_threshold(np.arange(101.0), 99.0)
    99.0
    """
    scores = np.asarray(validation_scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("no validation scores to choose a threshold from")
    return float(np.percentile(scores, percentile))
