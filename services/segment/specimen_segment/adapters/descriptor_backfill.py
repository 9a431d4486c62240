"""``python -m specimen_segment backfill-descriptors``: describe what was stored before.

Images and kept results without descriptor rows of the current descriptor set version (stored
before similar-image search existed, or described by an older version) are described one by
one, each in its own transaction, so that an interrupted run keeps what it did and a second
run picks up the rest. Idempotent: a described picture is not described again. The RQ worker
version of this job comes with issue 12's job machinery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from specimen_imaging.codecs import decode_image
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker
from specimen_segment.adapters.descriptor_repository import SqlDescriptorRepository
from specimen_segment.adapters.models import ImageRow, SegmentationRow
from specimen_segment.domain.similarity import (
    DESCRIPTOR_SET_VERSION,
    PictureKey,
    describe_picture,
    is_picture,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackfillReport:
    images: int
    results: int
    skipped: int
    failed: int
    pruned: int


def backfill_descriptors(database_url: str, blob_dir: Path, *, max_pixels: int,
                         prune: bool = False) -> BackfillReport:
    """Describe every image and picture result lacking rows of the current version."""
    engine = build_engine(database_url)
    sessions = build_sessionmaker(engine)
    blobs = FilesystemBlobStore(blob_dir)
    images = results = skipped = failed = pruned = 0
    try:
        with sessions() as session:
            rows = SqlDescriptorRepository(session)
            pending_images = list(rows.undescribed_images(DESCRIPTOR_SET_VERSION))
            pending_results = list(rows.undescribed_segmentations(DESCRIPTOR_SET_VERSION))
        for image_id, owner_id, key in pending_images:
            if _describe(sessions, blobs, owner_id, PictureKey(image_id), key, max_pixels):
                images += 1
            else:
                failed += 1
        for image_id, segmentation_id in pending_results:
            with sessions() as session:
                found = session.execute(
                    select(ImageRow.owner_id, SegmentationRow.operation, SegmentationRow.params,
                           SegmentationRow.blob_key)
                    .join(ImageRow, SegmentationRow.image_id == ImageRow.id)
                    .where(SegmentationRow.id == segmentation_id)).one_or_none()
            if found is None or not is_picture(found[1], dict(found[2])):
                skipped += 1
                continue
            if _describe(sessions, blobs, found[0], PictureKey(image_id, segmentation_id),
                         found[3], max_pixels):
                results += 1
            else:
                failed += 1
        if prune:
            with sessions.begin() as session:
                pruned = SqlDescriptorRepository(session).delete_other_versions(DESCRIPTOR_SET_VERSION)
    finally:
        engine.dispose()
    report = BackfillReport(images, results, skipped, failed, pruned)
    logger.info("descriptors backfilled", extra={
        "descriptor_set_version": DESCRIPTOR_SET_VERSION, "images": images, "results": results,
        "skipped": skipped, "failed": failed, "pruned": pruned})
    return report


def _describe(sessions: sessionmaker[Session], blobs: FilesystemBlobStore, owner_id: int, picture: PictureKey,
              key: str, max_pixels: int) -> bool:
    """Describe one picture in its own transaction; False (logged) when it cannot be read."""
    try:
        pixels = decode_image(blobs.get(key), max_pixels=max_pixels).pixels
        vectors = describe_picture(pixels)
    except Exception:  # one unreadable blob must not stop the others; it is logged
        logger.exception("picture not described", extra={
            "image_id": str(picture.image_id),
            "segmentation_id": None if picture.segmentation_id is None else str(picture.segmentation_id)})
        return False
    with sessions.begin() as session:
        exists = session.scalar(select(ImageRow.id).where(ImageRow.id == picture.image_id))
        if exists is None:  # deleted meanwhile
            return False
        SqlDescriptorRepository(session).add_vectors(owner_id, picture, DESCRIPTOR_SET_VERSION, vectors)
    return True
