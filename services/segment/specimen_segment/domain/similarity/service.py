"""The use-cases: describing pictures as they are stored, and searching."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from specimen_imaging.arrays import to_gray
from specimen_kit.errors import InvalidParameter, UnreadableImage, UnsupportedFormat
from specimen_segment.domain.errors import ImageNotFound, SegmentationNotFound
from specimen_segment.domain.library import Decoder, StoredImage, StoredSegmentation
from specimen_segment.domain.similarity.entities import (
    ForeignHit,
    Hit,
    PictureKey,
    SearchAnswer,
    SearchQuery,
)
from specimen_segment.domain.similarity.ports import (
    ClassifySearch,
    DescriptorRepository,
    Pictures,
    ScopeIndex,
)
from specimen_segment.domain.similarity.rules import (
    DESCRIPTOR_SET_VERSION,
    describe_picture,
    describe_region,
    is_picture,
    rank_pictures,
)
from specimen_segment.domain.superpixels import select_superpixels, slic_labels


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


class SimilarImages:
    """``POST /images/search``: the caller's pictures most like a query, best first."""

    def __init__(self, pictures: Pictures, rows: DescriptorRepository, index: ScopeIndex,
                 classify: ClassifySearch, *, decode: Decoder, max_limit: int) -> None:
        self._pictures = pictures
        self._rows = rows
        self._index = index
        self._classify = classify
        self._decode = decode
        self._max_limit = max_limit

    def _check_limit(self, limit: int) -> None:
        if not 1 <= limit <= self._max_limit:
            raise InvalidParameter(f"limit={limit} is out of range; use 1 to {self._max_limit}")

    def search(self, owner_id: int, query: SearchQuery) -> SearchAnswer:
        """The pictures, scans and objects (``query.sources``) most like ``query``, best first.

        One query vector (the whole picture, or the selected region only) is ranked in every
        source: the library here, scans and objects by the classify service, each in the
        caller's scope and in the same descriptor set. The lists are merged by similarity
        (ties: library, scans, objects, each in its own order) and cut to ``limit``. A source
        that cannot answer fails the whole search (503), never a partial answer.
        """
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
        vector = describe_region(pixels, mask)
        hits: list[Hit | ForeignHit] = []
        if "library" in query.sources:
            hits += self._search(owner_id, vector, query.limit, exclude).hits
        if "scans" in query.sources:
            hits += self._classify.scans(vector, DESCRIPTOR_SET_VERSION, query.limit)
        if "objects" in query.sources:
            hits += self._classify.objects(vector, DESCRIPTOR_SET_VERSION, query.limit)
        merged = sorted(enumerate(hits), key=lambda item: (-item[1].similarity, item[0]))
        return SearchAnswer([hit for _, hit in merged[:query.limit]], DESCRIPTOR_SET_VERSION)

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
        hits: list[Hit | ForeignHit] = []
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
