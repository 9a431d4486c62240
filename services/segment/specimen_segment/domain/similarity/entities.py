"""What the similar-image search works on: pictures, an owner's rows, queries, answers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from specimen_imaging import similarity
from specimen_kit.errors import InvalidParameter
from specimen_segment.domain.library import StoredImage, StoredSegmentation
from specimen_segment.domain.superpixels import SlicParams

Source = Literal["library", "scans", "objects"]
SOURCES: tuple[str, ...] = get_args(Source)
"""What a search may rank: the caller's library (the default), the scans of their hospital
(admin: all), the plankton objects of the projects they belong to (admin: all); the last two
are classify's, asked over HTTP with the caller's token."""


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
class ForeignHit:
    """A scan or a plankton object of the answer, as the classify service described it:
    ``kind`` (``scan`` or ``object``), the score, and its fields (ids, links, label)."""

    kind: Literal["scan", "object"]
    similarity: float
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchAnswer:
    hits: list[Hit | ForeignHit]
    descriptor_set_version: str


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
    sources: tuple[Source, ...] = ("library",)

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
        if not self.sources:
            raise InvalidParameter(f"sources is empty; name one or more of {', '.join(SOURCES)}")
