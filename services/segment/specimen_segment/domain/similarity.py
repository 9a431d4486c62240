"""Similar-image search over a user's library: descriptors of the pictures, and the query.

Rules, whatever the storage:

- **What is described.** Every library image when it is uploaded, and every kept
  segmentation whose result is a picture (not a mask or a label image, see
  :func:`is_picture`), gets the rows of :func:`describe_picture`: the whole picture first
  (``region`` 0), then up to :data:`MAX_REGIONS` regions proposed by :func:`region_proposals`.
  A picture's similarity to a query is the best over its rows, so a selection of an object
  finds the images that *contain* such an object, not only the ones that look like it overall.
  A picture with transparency (a cut-out on transparent) is described where it is opaque.
- **Versioned.** Rows carry the descriptor set version
  (:data:`specimen_imaging.similarity.DESCRIPTOR_SET_VERSION`); only rows of the current
  version are searched. ``python -m specimen_segment backfill-descriptors`` describes what
  has none of the current version.
- **Scoped inside the query.** The candidates are loaded by owner: another user's rows are
  never in the set that is ranked, so they cannot appear even as the nearest. Admins search
  their own library, like everyone (the library is owner-only).
- **Exact.** The ranking is exact (inner products over all of the owner's rows): a library
  is bounded by the quota (1000 images by default), and BENCHMARKS.md "Similar-image search"
  measures exact search at 10k rows well under a millisecond.
- **The query is not its own answer.** A query by a library image (whole or a selection of
  it) leaves that image and its kept results out of the answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from specimen_imaging import similarity
from specimen_imaging.arrays import to_gray
from specimen_kit.errors import InvalidParameter, UnreadableImage, UnsupportedFormat
from specimen_segment.domain.errors import ImageNotFound, SegmentationNotFound
from specimen_segment.domain.library import (
    Decoder,
    StoredImage,
    StoredSegmentation,
)
from specimen_segment.domain.superpixels import SlicParams, select_superpixels, slic_labels

DESCRIPTOR_SET_VERSION = similarity.DESCRIPTOR_SET_VERSION
WORK_SIDE = 256
"""Pictures are described on a copy whose longer side is at most this (``INTER_AREA``)."""
MAX_REGIONS = 8
PROPOSAL_SEGMENTS = 100
MIN_REGION_FRACTION = 0.02
MAX_REGION_FRACTION = 0.7


# --- entities -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PictureKey:
    """A described picture: a library image, or one of its kept results."""

    image_id: uuid.UUID
    segmentation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ScopeVectors:
    """One owner's rows of one descriptor set version, ready to rank.

    ``vectors`` (n, DIMENSIONS) float32 unit rows; ``picture_of_row`` (n,) the index into
    ``pictures`` of each row's picture.
    """

    pictures: tuple[PictureKey, ...]
    picture_of_row: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]

    @classmethod
    def empty(cls) -> ScopeVectors:
        return cls((), np.zeros(0, np.int64), np.zeros((0, similarity.DIMENSIONS), np.float32))


@dataclass(frozen=True)
class Hit:
    """One picture of the answer: the image, the kept result (None: the original), the score."""

    image: StoredImage
    segmentation: StoredSegmentation | None
    similarity: float


@dataclass(frozen=True)
class SearchAnswer:
    hits: list[Hit]
    descriptor_set_version: str


# --- ports --------------------------------------------------------------------------------


class DescriptorRepository(Protocol):
    """Descriptor rows. Flushes, never commits; every read is owner-scoped."""

    def add_vectors(self, owner_id: int, picture: PictureKey, version: str,
                    vectors: npt.NDArray[np.float32]) -> None:
        """Store the rows of one picture (row ``i`` is region ``i``), replacing its old ones."""
        ...

    def scope_stamp(self, owner_id: int, version: str) -> tuple[int, int]:
        """``(row count, largest row id)`` of the owner's rows: changes whenever they change."""
        ...

    def load_scope(self, owner_id: int, version: str) -> ScopeVectors: ...


class ScopeIndex(Protocol):
    """Keeps owners' :class:`ScopeVectors` between requests (see ``adapters``)."""

    def vectors(self, owner_id: int, version: str, rows: DescriptorRepository) -> ScopeVectors: ...


class Pictures(Protocol):
    """The owner's images and results, read through the library (owner-scoped)."""

    def get_image(self, owner_id: int, image_id: uuid.UUID) -> StoredImage: ...

    def get_segmentation(self, owner_id: int, image_id: uuid.UUID,
                         segmentation_id: uuid.UUID) -> StoredSegmentation: ...

    def image_pixels(self, image: StoredImage) -> npt.NDArray[Any]: ...


# --- rules --------------------------------------------------------------------------------


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


def working_copy(pixels: npt.NDArray[Any], mask: npt.NDArray[np.bool_] | None = None,
                 side: int = WORK_SIDE) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_] | None]:
    """8-bit RGB(A) pixels (and the mask) resampled so that the longer side is at most ``side``.

    A thin mask that would vanish keeps every working pixel it touched.
    """
    image: npt.NDArray[Any] = pixels
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    h, w = image.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return np.ascontiguousarray(image, dtype=np.uint8), mask
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA),
                       np.uint8)
    if mask is None:
        return small, None
    share = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small_mask = share >= 0.5
    if small_mask.sum() < similarity.MIN_REGION_PIXELS:
        small_mask = share > 0
    return small, small_mask


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
    rgba, region = working_copy(pixels, mask)
    return similarity.describe(np.ascontiguousarray(rgba[:, :, :3]), region)


def rank_pictures(query: npt.NDArray[np.float32], scope: ScopeVectors, limit: int,
                  exclude: frozenset[int] = frozenset()) -> list[tuple[int, float]]:
    """The ``limit`` best pictures of ``scope`` for ``query``: ``(picture index, similarity)``.

    Exact: every row's inner product (the cosine of unit vectors), the best row per picture,
    then the best pictures, ties broken by picture order. ``exclude`` names pictures (indices
    into ``scope.pictures``) left out before ranking.

    Examples
    --------
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


# --- use-cases ----------------------------------------------------------------------------


class DescriptorIndexer:
    """Describes pictures as they are stored: the library's
    :class:`~specimen_segment.domain.library.Descriptors` port."""

    def __init__(self, rows: DescriptorRepository) -> None:
        self._rows = rows

    def describe(self, pixels: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        return describe_picture(pixels)

    def describes(self, operation: str, params: Mapping[str, Any]) -> bool:
        return is_picture(operation, params)

    def add_image(self, image: StoredImage, vectors: npt.NDArray[np.float32]) -> None:
        self._rows.add_vectors(image.owner_id, PictureKey(image.id), DESCRIPTOR_SET_VERSION, vectors)

    def add_segmentation(self, image: StoredImage, segmentation: StoredSegmentation,
                         vectors: npt.NDArray[np.float32]) -> None:
        self._rows.add_vectors(image.owner_id, PictureKey(image.id, segmentation.id),
                               DESCRIPTOR_SET_VERSION, vectors)


@dataclass(frozen=True)
class Selection:
    """Superpixels of a stored image: SLIC ``params`` (as ``/segment/superpixels``) and ``ids``."""

    params: SlicParams
    ids: Sequence[int]


@dataclass(frozen=True)
class SearchQuery:
    """What to search by: exactly one of ``upload`` (image bytes) and ``image_id``.

    ``mask`` (image bytes; white = inside) narrows either to a region; ``selection`` narrows
    ``image_id`` to superpixels. ``limit`` is the number of pictures answered.
    """

    limit: int
    upload: bytes | None = None
    image_id: uuid.UUID | None = None
    selection: Selection | None = None
    mask: bytes | None = None

    def check(self) -> None:
        """A 422 naming the fix when the fields do not make one query."""
        if (self.upload is None) == (self.image_id is None):
            raise InvalidParameter(
                "search by one thing: send an image (field 'image') or a library image_id, "
                "not both and not neither" if self.upload is not None else
                "nothing to search by: send an image (field 'image') or a library image_id "
                "(with superpixel ids or a mask to search by a selection of it)")
        if self.selection is not None and self.image_id is None:
            raise InvalidParameter("ids select superpixels of a library image: send image_id "
                                   "with them (or send a mask with an uploaded image)")
        if self.selection is not None and self.mask is not None:
            raise InvalidParameter("send the selection once: superpixel ids or a mask, not both")


class SimilarImages:
    """``POST /images/search``: the caller's pictures most like a query, best first."""

    def __init__(self, pictures: Pictures, rows: DescriptorRepository, index: ScopeIndex,
                 *, decode: Decoder, max_limit: int) -> None:
        self._pictures = pictures
        self._rows = rows
        self._index = index
        self._decode = decode
        self._max_limit = max_limit

    def _check_limit(self, limit: int) -> None:
        if not 1 <= limit <= self._max_limit:
            raise InvalidParameter(f"limit={limit} is out of range; use 1 to {self._max_limit}")

    def search(self, owner_id: int, query: SearchQuery) -> SearchAnswer:
        """The owner's pictures most like ``query``, best first (see the module's rules)."""
        query.check()
        self._check_limit(query.limit)
        exclude = None
        if query.upload is not None:
            pixels = self._decode(query.upload).pixels
        else:
            assert query.image_id is not None
            image = self._pictures.get_image(owner_id, query.image_id)
            pixels, exclude = self._pictures.image_pixels(image), image.id
        mask = None if query.mask is None else self._mask(query.mask)
        if query.selection is not None:
            labels = slic_labels(pixels, query.selection.params)
            _, mask = select_superpixels(pixels, labels, list(query.selection.ids))
        return self._search(owner_id, describe_region(pixels, mask), query.limit, exclude)

    def _mask(self, data: bytes) -> npt.NDArray[np.bool_]:
        """A mask image: pixels brighter than half-scale are inside."""
        try:
            pixels = self._decode(data).pixels
        except (UnreadableImage, UnsupportedFormat) as err:
            raise type(err)(f"mask: {err.detail}") from err
        gray = to_gray(pixels)
        inside: npt.NDArray[np.bool_] = gray > np.iinfo(gray.dtype).max // 2
        return inside

    def _search(self, owner_id: int, query: npt.NDArray[np.float32], limit: int,
                exclude_image: uuid.UUID | None) -> SearchAnswer:
        scope = self._index.vectors(owner_id, DESCRIPTOR_SET_VERSION, self._rows)
        exclude = frozenset(i for i, key in enumerate(scope.pictures) if key.image_id == exclude_image)
        hits = []
        for index, score in rank_pictures(query, scope, limit, exclude):
            key = scope.pictures[index]
            try:
                image = self._pictures.get_image(owner_id, key.image_id)
                kept = (None if key.segmentation_id is None else
                        self._pictures.get_segmentation(owner_id, key.image_id, key.segmentation_id))
            except (ImageNotFound, SegmentationNotFound):
                continue  # deleted by a concurrent request since the rows were read
            hits.append(Hit(image, kept, score))
        return SearchAnswer(hits, DESCRIPTOR_SET_VERSION)
