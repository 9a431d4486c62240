"""Descriptor rows over a SQLAlchemy session (flushes, never commits), and the in-process index.

The vectors live in the segment database (``image_descriptors``: SQLite or PostgreSQL, which
has no pgvector here); a search ranks one owner's rows exactly, in memory.
:class:`OwnerVectorCache` keeps recently searched owners' matrices between requests
(:class:`specimen_kit.stamped_cache.StampedCache`) and reloads one when its ``(row count,
largest id)`` stamp in the database moved, so every replica sees every other replica's writes
on its next search (BENCHMARKS.md "Similar-image search" has the measurements behind exact
search).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial

import numpy as np
import numpy.typing as npt
from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from specimen_imaging.similarity import DIMENSIONS
from specimen_kit.stamped_cache import StampedCache
from specimen_segment.adapters.models import ImageDescriptorRow, ImageRow, SegmentationRow
from specimen_segment.domain.similarity import PictureKey, ScopeVectors

_VECTOR_DTYPE = np.dtype("<f4")


def vector_bytes(vector: npt.NDArray[np.float32]) -> bytes:
    return np.asarray(vector, _VECTOR_DTYPE).tobytes()


class SqlDescriptorRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_vectors(self, owner_id: int, picture: PictureKey, version: str,
                    vectors: npt.NDArray[np.float32]) -> None:
        self._session.execute(delete(ImageDescriptorRow).where(
            ImageDescriptorRow.image_id == picture.image_id,
            ImageDescriptorRow.segmentation_id.is_(None) if picture.segmentation_id is None
            else ImageDescriptorRow.segmentation_id == picture.segmentation_id))
        self._session.add_all([
            ImageDescriptorRow(owner_id=owner_id, image_id=picture.image_id,
                               segmentation_id=picture.segmentation_id, region=region,
                               descriptor_set_version=version, vector=vector_bytes(vector))
            for region, vector in enumerate(vectors)])
        self._session.flush()

    def scope_stamp(self, owner_id: int, version: str) -> tuple[int, int]:
        count, largest = self._session.execute(
            select(func.count(ImageDescriptorRow.id), func.coalesce(func.max(ImageDescriptorRow.id), 0))
            .where(ImageDescriptorRow.owner_id == owner_id,
                   ImageDescriptorRow.descriptor_set_version == version)).one()
        return int(count), int(largest)

    def load_scope(self, owner_id: int, version: str) -> ScopeVectors:
        rows = self._session.execute(
            select(ImageDescriptorRow.image_id, ImageDescriptorRow.segmentation_id,
                   ImageDescriptorRow.vector)
            .where(ImageDescriptorRow.owner_id == owner_id,
                   ImageDescriptorRow.descriptor_set_version == version)
            .order_by(ImageDescriptorRow.id)).all()
        if not rows:
            return ScopeVectors.empty()
        pictures: dict[PictureKey, int] = {}
        picture_of_row = np.empty(len(rows), np.int64)
        for i, (image_id, segmentation_id, _) in enumerate(rows):
            picture_of_row[i] = pictures.setdefault(PictureKey(image_id, segmentation_id), len(pictures))
        vectors = np.frombuffer(b"".join(row[2] for row in rows), _VECTOR_DTYPE)
        return ScopeVectors(tuple(pictures), picture_of_row,
                            vectors.reshape(len(rows), DIMENSIONS).astype(np.float32))

    def undescribed_images(self, version: str) -> Iterator[tuple[uuid.UUID, int, str]]:
        """``(image id, owner, blob key)`` of every image without a whole-picture row of ``version``."""
        described = select(ImageDescriptorRow.id).where(
            ImageDescriptorRow.image_id == ImageRow.id,
            ImageDescriptorRow.segmentation_id.is_(None),
            ImageDescriptorRow.descriptor_set_version == version).exists()
        for row in self._session.execute(
                select(ImageRow.id, ImageRow.owner_id, ImageRow.blob_key)
                .where(~described).order_by(ImageRow.created_at, ImageRow.id)):
            yield row[0], row[1], row[2]

    def undescribed_segmentations(self, version: str) -> Iterator[tuple[uuid.UUID, uuid.UUID]]:
        """``(image id, segmentation id)`` of every kept result without a row of ``version``."""
        described = select(ImageDescriptorRow.id).where(
            ImageDescriptorRow.segmentation_id == SegmentationRow.id,
            ImageDescriptorRow.descriptor_set_version == version).exists()
        for row in self._session.execute(
                select(SegmentationRow.image_id, SegmentationRow.id)
                .where(~described).order_by(SegmentationRow.created_at, SegmentationRow.id)):
            yield row[0], row[1]

    def delete_other_versions(self, version: str) -> int:
        """Forget the rows of every other descriptor set version; how many went."""
        result = self._session.execute(delete(ImageDescriptorRow).where(
            ImageDescriptorRow.descriptor_set_version != version))
        return int(getattr(result, "rowcount", 0) or 0)


def delete_picture_descriptors(session: Session, image_id: uuid.UUID,
                               segmentation_id: uuid.UUID | None = None) -> None:
    """Delete an image's rows (all of them), or one kept result's."""
    where = [ImageDescriptorRow.image_id == image_id]
    if segmentation_id is not None:
        where.append(ImageDescriptorRow.segmentation_id == segmentation_id)
    session.execute(delete(ImageDescriptorRow).where(and_(*where)))


class OwnerVectorCache:
    """The :class:`~specimen_segment.domain.similarity.ScopeIndex` of the app: owners' matrices.

    Holds at most ``max_vectors`` rows in all (least recently searched owners go first); an
    owner's entry is used only while its stamp in the database is unchanged. Thread-safe.
    """

    def __init__(self, max_vectors: int) -> None:
        self._owners: StampedCache[tuple[int, str], ScopeVectors] = StampedCache(
            max_vectors, rows_of=lambda scope: scope.vectors.shape[0])

    def vectors(self, owner_id: int, version: str, rows: SqlDescriptorRepository) -> ScopeVectors:
        return self._owners.get((owner_id, version), rows.scope_stamp(owner_id, version),
                                partial(rows.load_scope, owner_id, version))

    def __len__(self) -> int:
        return len(self._owners)
