"""Plankton projects, frames and objects over a SQLAlchemy session (issue 12).

Like :mod:`specimen_classify.adapters.scan_repository` it flushes and leaves committing to the
request's unit of work, except :func:`replace_frame_objects` when called outside a transaction
(the run pipeline's worker): then it commits its one transaction itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from specimen_classify.adapters.scan_repository import referenced_blob_keys as scan_blob_keys
from specimen_classify.adapters.tables import (
    FrameRow,
    ObjectAnnotationRow,
    PlanktonObjectRow,
)
from specimen_classify.domain.errors import FrameNotFound
from specimen_classify.domain.plankton.projects import NewObject
from specimen_kit.timestamps import utc_now


def _object_row(project_id: int, frame_id: int, job_id: int | None, new: NewObject,
                created_at: datetime) -> PlanktonObjectRow:
    min_row, min_col, max_row, max_col = new.bbox
    return PlanktonObjectRow(
        project_id=project_id, frame_id=frame_id, job_id=job_id, rank=new.rank,
        min_row=min_row, min_col=min_col, max_row=max_row, max_col=max_col,
        centroid_row=float(new.centroid[0]), centroid_col=float(new.centroid[1]),
        features=json.dumps(new.features, sort_keys=True),
        feature_set_version=new.feature_set_version, crop_key=new.crop_key,
        mask_key=new.mask_key, category=new.category, probability=float(new.probability),
        scores=json.dumps(new.scores, sort_keys=True), model_name=new.model_name,
        model_version=new.model_version, status=new.status, created_at=created_at)


def replace_frame_objects(session: Session, frame_id: int, job_id: int | None,
                          objects: Sequence[NewObject]) -> int:
    """Delete ``frame_id``'s objects (their annotation history with them) and insert
    ``objects`` in one transaction; returns how many were inserted.

    Idempotent: re-running a frame (a retry, a worker killed mid-frame) leaves exactly the last
    run's objects. Called with a session that is not in a transaction, it begins and commits
    one; inside the caller's transaction it only flushes (the caller commits or rolls back).
    The replaced objects' crop and mask blobs are left to ``sweep-orphans``.
    Raises :class:`~specimen_classify.domain.errors.FrameNotFound` when the frame is gone
    (deleted while its run was going).
    """
    ranks = [new.rank for new in objects]
    if len(set(ranks)) != len(ranks) or any(rank < 1 for rank in ranks):
        raise ValueError("object ranks must be distinct and start at 1")
    own_transaction = not session.in_transaction()
    try:
        project_id = session.scalar(select(FrameRow.project_id).where(FrameRow.id == frame_id)
                                    .with_for_update())
        if project_id is None:
            raise FrameNotFound(frame_id)
        old = select(PlanktonObjectRow.id).where(PlanktonObjectRow.frame_id == frame_id)
        # Explicit rather than trusting ON DELETE CASCADE: SQLite honours it only per connection.
        session.execute(delete(ObjectAnnotationRow).where(ObjectAnnotationRow.object_id.in_(old)))
        session.execute(delete(PlanktonObjectRow).where(PlanktonObjectRow.frame_id == frame_id))
        now = utc_now()
        session.add_all([_object_row(project_id, frame_id, job_id, new, now) for new in objects])
        session.flush()
        if own_transaction:
            session.commit()
    except BaseException:
        if own_transaction:
            session.rollback()
        raise
    return len(objects)


def project_blob_keys(session: Session) -> set[str]:
    """Every blob key the projects' frames and objects reference (frames, crops, masks)."""
    keys = set(session.scalars(select(FrameRow.image_key)))
    for crop_key, mask_key in session.execute(
            select(PlanktonObjectRow.crop_key, PlanktonObjectRow.mask_key)):
        keys.update(key for key in (crop_key, mask_key) if key)
    return keys


def referenced_blob_keys(session: Session) -> set[str]:
    """Every blob key a row of this service references (``sweep-orphans`` keeps exactly these):
    the scans' images and the projects' frames, crops and masks."""
    return scan_blob_keys(session) | project_blob_keys(session)
