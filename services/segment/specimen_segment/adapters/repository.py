"""The library's rows over a SQLAlchemy session. It flushes, never commits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from specimen_kit.database import lock_row
from specimen_segment.adapters.descriptor_repository import delete_picture_descriptors
from specimen_segment.adapters.models import ImageRow, SegmentationRow
from specimen_segment.domain.library import (
    ImageNotFound,
    ImageQuery,
    StoredImage,
    StoredSegmentation,
    Usage,
)

# First half of the PostgreSQL advisory-lock key: keeps this service's locks apart from others'.
_QUOTA_LOCK_CLASS = 0x5E61
# The columns behind IMAGE_SORTS; names by lower case so that 'b' and 'B' sort together.
_IMAGE_SORT_COLUMNS: dict[str, Any] = {
    "created_at": ImageRow.created_at,
    "name": func.lower(ImageRow.name),
    "bytes": ImageRow.bytes,
}


def _image(row: ImageRow) -> StoredImage:
    return StoredImage(id=row.id, owner_id=row.owner_id, name=row.name, format=row.format,
                       width=row.width, height=row.height, channels=row.channels,
                       bit_depth=row.bit_depth, bytes=row.bytes, blob_key=row.blob_key,
                       created_at=row.created_at, updated_at=row.updated_at)


def _segmentation(row: SegmentationRow) -> StoredSegmentation:
    return StoredSegmentation(id=row.id, image_id=row.image_id, operation=row.operation,
                              params=dict(row.params), summary=dict(row.summary),
                              media_type=row.media_type, bytes=row.bytes,
                              blob_key=row.blob_key, created_at=row.created_at)


class SqlLibraryRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def lock_owner(self, owner_id: int) -> None:
        # Two concurrent uploads of one user must not both pass the quota check. PostgreSQL:
        # a transaction-scoped advisory lock per owner. SQLite has one writer at a time.
        if self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(text("SELECT pg_advisory_xact_lock(:kind, :owner)"),
                                  {"kind": _QUOTA_LOCK_CLASS, "owner": owner_id})

    def usage(self, owner_id: int) -> Usage:
        images, image_bytes = self._session.execute(
            select(func.count(ImageRow.id), func.coalesce(func.sum(ImageRow.bytes), 0))
            .where(ImageRow.owner_id == owner_id)).one()
        result_bytes = self._session.scalar(
            select(func.coalesce(func.sum(SegmentationRow.bytes), 0))
            .join(ImageRow, SegmentationRow.image_id == ImageRow.id)
            .where(ImageRow.owner_id == owner_id)) or 0
        return Usage(images=int(images), bytes=int(image_bytes) + int(result_bytes))

    def add_image(self, image: StoredImage) -> None:
        self._session.add(ImageRow(
            id=image.id, owner_id=image.owner_id, name=image.name, format=image.format,
            width=image.width, height=image.height, channels=image.channels,
            bit_depth=image.bit_depth, bytes=image.bytes, blob_key=image.blob_key,
            created_at=image.created_at, updated_at=image.updated_at))
        self._session.flush()

    def get_image(self, owner_id: int, image_id: uuid.UUID) -> StoredImage | None:
        row = self._session.scalar(
            select(ImageRow).where(ImageRow.id == image_id, ImageRow.owner_id == owner_id))
        return None if row is None else _image(row)

    def list_images(self, owner_id: int, query: ImageQuery) -> tuple[list[StoredImage], int]:
        where = [ImageRow.owner_id == owner_id]
        if query.name_contains:
            # Case-insensitive substring; autoescape keeps '%' and '_' in the search literal.
            where.append(func.lower(ImageRow.name).contains(query.name_contains.lower(),
                                                            autoescape=True))
        total = self._session.scalar(select(func.count(ImageRow.id)).where(*where)) or 0
        column = _IMAGE_SORT_COLUMNS[query.sort_field]
        order = column.desc() if query.descending else column.asc()
        rows = self._session.scalars(
            select(ImageRow).where(*where)
            .order_by(order, ImageRow.created_at.desc(), ImageRow.id.desc())
            .limit(query.limit).offset(query.offset))
        return [_image(row) for row in rows], total

    def save_image(self, image: StoredImage) -> None:
        row = self._session.get(ImageRow, image.id)
        if row is None:
            # Deleted by a concurrent request since this one read it: as if the delete came first.
            raise ImageNotFound(image.id)
        row.name = image.name
        row.updated_at = image.updated_at
        self._session.flush()

    def delete_image(self, image_id: uuid.UUID) -> None:
        # The image's row first, as classify's delete_project: a result kept after waits, then
        # meets the foreign key (404), instead of deadlocking with this delete.
        lock_row(self._session, select(ImageRow.id).where(ImageRow.id == image_id))
        # Results first, explicitly: the foreign key cascades too, but this way the deletion
        # does not depend on SQLite's per-connection foreign_keys pragma.
        delete_picture_descriptors(self._session, image_id)
        self._session.execute(delete(SegmentationRow).where(SegmentationRow.image_id == image_id))
        self._session.execute(delete(ImageRow).where(ImageRow.id == image_id))

    def add_segmentation(self, segmentation: StoredSegmentation) -> None:
        self._session.add(SegmentationRow(
            id=segmentation.id, image_id=segmentation.image_id,
            operation=segmentation.operation, params=segmentation.params,
            summary=segmentation.summary, media_type=segmentation.media_type,
            bytes=segmentation.bytes, blob_key=segmentation.blob_key,
            created_at=segmentation.created_at))
        self._session.flush()

    def get_segmentation(self, image_id: uuid.UUID,
                         segmentation_id: uuid.UUID) -> StoredSegmentation | None:
        row = self._session.scalar(select(SegmentationRow).where(
            SegmentationRow.id == segmentation_id, SegmentationRow.image_id == image_id))
        return None if row is None else _segmentation(row)

    def list_segmentations(self, image_id: uuid.UUID, limit: int,
                           offset: int) -> tuple[list[StoredSegmentation], int]:
        where = SegmentationRow.image_id == image_id
        total = self._session.scalar(select(func.count(SegmentationRow.id)).where(where)) or 0
        rows = self._session.scalars(
            select(SegmentationRow).where(where)
            .order_by(SegmentationRow.created_at.desc(), SegmentationRow.id.desc())
            .limit(limit).offset(offset))
        return [_segmentation(row) for row in rows], total

    def delete_segmentation(self, segmentation_id: uuid.UUID) -> None:
        image_id = self._session.scalar(
            select(SegmentationRow.image_id).where(SegmentationRow.id == segmentation_id))
        if image_id is not None:
            delete_picture_descriptors(self._session, image_id, segmentation_id)
        self._session.execute(delete(SegmentationRow).where(SegmentationRow.id == segmentation_id))

    def segmentation_keys(self, image_id: uuid.UUID) -> list[str]:
        return list(self._session.scalars(
            select(SegmentationRow.blob_key).where(SegmentationRow.image_id == image_id)))


def referenced_blob_keys(session: Session) -> set[str]:
    """Every blob key a row references (``sweep-orphans`` keeps exactly these)."""
    keys = set(session.scalars(select(ImageRow.blob_key)))
    keys.update(session.scalars(select(SegmentationRow.blob_key)))
    return keys
