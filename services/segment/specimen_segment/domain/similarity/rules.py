"""Pure rules: what is described and how, and the exact ranking."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_imaging import similarity
from specimen_kit.errors import InvalidParameter
from specimen_segment.domain.similarity.entities import ScopeVectors
from specimen_segment.domain.superpixels import SlicParams, slic_labels

DESCRIPTOR_SET_VERSION = similarity.DESCRIPTOR_SET_VERSION
WORK_SIDE = similarity.WORK_SIDE
working_copy = similarity.working_copy
MAX_REGIONS = 8
PROPOSAL_SEGMENTS = 100
MIN_REGION_FRACTION = 0.02
MAX_REGION_FRACTION = 0.7


def is_picture(operation: str, params: Mapping[str, Any]) -> bool:
    """Whether a kept result is a picture worth describing (not a mask, not a label image).

    Examples
    --------
    >>> is_picture("background", {}), is_picture("threshold", {}), is_picture("superpixels", {})
    (True, False, False)
    """
    defaults = {"threshold": "mask", "superpixels": "labels", "selection": "cutout"}
    if operation not in defaults:
        return True
    return str(params.get("result", defaults[operation])) not in ("mask", "labels")


def region_proposals(rgb: npt.NDArray[np.uint8],
                     max_regions: int = MAX_REGIONS) -> list[npt.NDArray[np.bool_]]:
    """Regions of one colour: SLIC superpixels grouped by their mean Lab colour.

    The superpixels' mean colours are clustered (k-means, k = 2 and 3, seeded); each connected
    piece of a cluster covering between :data:`MIN_REGION_FRACTION` and
    :data:`MAX_REGION_FRACTION` of the picture is a region, the largest ``max_regions`` kept.
    Deterministic for the same pixels.
    """
    labels = slic_labels(rgb, SlicParams(n_segments=PROPOSAL_SEGMENTS))
    count = int(labels.max()) + 1
    if count < 2:
        return []
    flat = labels.ravel()
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float64)
    sizes = np.maximum(np.bincount(flat, minlength=count), 1)
    means = np.stack([np.bincount(flat, lab[:, c], minlength=count) / sizes for c in range(3)], axis=1)
    area = labels.size
    found: list[tuple[int, int, npt.NDArray[np.bool_]]] = []
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    for k in (2, 3):
        if count < k:
            continue
        cv2.setRNGSeed(k)
        _, assignment, _ = cv2.kmeans(means.astype(np.float32), k, None,  # type: ignore[call-overload]
                                      criteria, 3, cv2.KMEANS_PP_CENTERS)
        clusters = assignment.ravel()[labels]
        for cluster in range(k):
            pieces, components, stats, _ = cv2.connectedComponentsWithStats(
                (clusters == cluster).astype(np.uint8), connectivity=8)
            for piece in range(1, pieces):
                size = int(stats[piece, cv2.CC_STAT_AREA])
                if MIN_REGION_FRACTION * area <= size <= MAX_REGION_FRACTION * area:
                    found.append((size, len(found), components == piece))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [mask for _, _, mask in found[:max_regions]]


def describe_picture(pixels: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """The rows stored for a picture: the whole (row 0), then its proposed regions.

    A picture with an alpha channel is described where it is opaque (row 0 is that region).
    """
    alpha = pixels[:, :, 3] > 0 if pixels.ndim == 3 and pixels.shape[2] == 4 else None
    if alpha is not None and (alpha.all() or alpha.sum() < similarity.MIN_REGION_PIXELS):
        alpha = None
    rgba, region = working_copy(pixels, alpha)
    rgb = np.ascontiguousarray(rgba[:, :, :3])
    rows = [similarity.describe(rgb, region)]
    for proposal in region_proposals(rgb):
        if region is not None:
            proposal = proposal & region
        if proposal.sum() >= similarity.MIN_REGION_PIXELS:
            rows.append(similarity.describe(rgb, proposal))
    return np.stack(rows)


def describe_region(pixels: npt.NDArray[Any], mask: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.float32]:
    """The query vector of a picture (``mask`` None) or of the region under ``mask``."""
    if mask is not None and mask.shape != pixels.shape[:2]:
        raise InvalidParameter(f"mask is {mask.shape[1]}x{mask.shape[0]} pixels; it must match the "
                               f"image's {pixels.shape[1]}x{pixels.shape[0]}")
    if mask is not None and not mask.any():
        raise InvalidParameter("the selection is empty: the mask has no pixel inside; "
                               "mark the region to search by (white on black)")
    return similarity.describe_working_copy(pixels, mask)


def rank_pictures(query: npt.NDArray[np.float32], scope: ScopeVectors, limit: int,
                  exclude: frozenset[int] = frozenset()) -> list[tuple[int, float]]:
    """The ``limit`` best pictures of ``scope`` for ``query``: ``(picture index, similarity)``.

    Exact: every row's inner product (the cosine of unit vectors), the best row per picture,
    then the best pictures, ties broken by picture order. ``exclude`` names pictures (indices
    into ``scope.pictures``) left out before ranking.

    Examples
    --------
    >>> import uuid
    >>> from specimen_segment.domain.similarity.entities import PictureKey
    >>> scope = ScopeVectors((PictureKey(uuid.UUID(int=1)), PictureKey(uuid.UUID(int=2))),
    ...                      np.array([0, 1, 1]), np.eye(3, dtype=np.float32))
    >>> rank_pictures(np.array([0, 0, 1], np.float32), scope, 5)
    [(1, 1.0), (0, 0.0)]
    """
    if limit < 1 or not scope.pictures:
        return []
    scores = scope.vectors @ np.asarray(query, np.float32)
    best = np.full(len(scope.pictures), -np.inf, np.float64)
    np.maximum.at(best, scope.picture_of_row, scores.astype(np.float64))
    if exclude:
        best[list(exclude)] = -np.inf
    candidates = np.flatnonzero(np.isfinite(best))
    if candidates.size > limit:
        part = np.argpartition(-best[candidates], limit - 1)[:limit]
        candidates = candidates[part]
    order = sorted(candidates.tolist(), key=lambda i: (-best[i], i))
    return [(int(i), round(float(np.clip(best[i], -1.0, 1.0)), 6)) for i in order]
