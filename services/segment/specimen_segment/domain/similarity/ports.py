"""The storage the search needs: descriptor rows, the in-process index, the library."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from specimen_segment.domain.library import StoredImage, StoredSegmentation
from specimen_segment.domain.similarity.entities import ForeignHit, PictureKey, ScopeVectors


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


class ClassifySearch(Protocol):
    """The classify service's searches, asked as the caller (their token). Each answers the
    ``limit`` best of the caller's scope for a unit ``vector`` of descriptor set ``version``;
    raises :class:`~specimen_segment.domain.errors.ClassifyUnavailable` (no answer) or
    :class:`~specimen_segment.domain.errors.ClassifyRefused` (its 4xx)."""

    def scans(self, vector: npt.NDArray[np.float32], version: str,
              limit: int) -> list[ForeignHit]: ...

    def objects(self, vector: npt.NDArray[np.float32], version: str,
                limit: int) -> list[ForeignHit]: ...
