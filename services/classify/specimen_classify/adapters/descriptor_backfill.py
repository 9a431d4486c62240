"""The ``descriptor-backfill`` job kind: describe the objects and scans stored without a descriptor.

Objects a run stored before the similar-object search (migration 0005), or described by an
older :data:`~specimen_classify.domain.plankton.object_similarity.OBJECT_DESCRIPTOR_VERSION`,
get theirs here: one task per frame that has such objects (so the workers share the work, and
the frame is decoded once), each object described as a run describes it — the frame's pixels
under the object's stored mask (the mask PNG is the crop's size; its box is the object's box,
which places it in the frame), inverted when its run cut bright objects. Each frame's
descriptors are written in one transaction, so an interrupted job keeps what it did; a second
job finds only what is left (idempotent). Objects without a stored mask are counted as skipped.

Scans filed before the scan search (migration 0007), or described by an older
:data:`~specimen_classify.domain.search_vectors.SCAN_DESCRIPTOR_SET_VERSION`, are the same job's
other tasks: one per :data:`SCANS_PER_TASK` undescribed scans (item ``scans:<first id>-<last
id>``), each scan's slice read as the classifier reads it and described as filing describes it
(:func:`~specimen_classify.domain.search_vectors.describe_slice`); a task writes in one
transaction and describes only what still lacks a row (idempotent). A job limited to one
project (``--project``) has no scan tasks: scans belong to hospitals, not projects.

``python -m specimen_classify backfill-object-descriptors`` records such a job (all projects
and every scan, or ``--project``) and queues it on the workers, or with ``--inline`` runs it in
the command.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from specimen_classify.adapters.jobs import (
    JobRecord,
    TaskContext,
    TaskOutcome,
    TaskRecord,
    TaskSpec,
    create_job,
    register_job_kind,
)
from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.adapters.object_descriptor_repository import SqlObjectDescriptorRepository
from specimen_classify.adapters.scan_descriptor_repository import SqlScanDescriptorRepository
from specimen_classify.adapters.tables import FrameRow, JobRow, PlanktonObjectRow, ScanRow
from specimen_classify.domain.jobs import JobKind
from specimen_classify.domain.plankton.object_similarity import OBJECT_DESCRIPTOR_VERSION, describe_object
from specimen_classify.domain.search_vectors import SCAN_DESCRIPTOR_SET_VERSION, describe_slice
from specimen_imaging.arrays import to_gray
from specimen_imaging.codecs import decode_image
from specimen_kit.blobs import BlobMissing, FilesystemBlobStore
from specimen_kit.errors import Problem

logger = logging.getLogger(__name__)

BACKFILL_KIND: JobKind = "descriptor-backfill"
SCANS_PER_TASK = 100
_SCANS_ITEM = "scans:"


def scan_tasks(session: Session) -> list[TaskSpec]:
    """One task per :data:`SCANS_PER_TASK` scans lacking a descriptor of the current set."""
    ids = list(SqlScanDescriptorRepository(session).undescribed(SCAN_DESCRIPTOR_SET_VERSION))
    return [TaskSpec(item=f"{_SCANS_ITEM}{chunk[0]}-{chunk[-1]}")
            for chunk in (ids[i:i + SCANS_PER_TASK] for i in range(0, len(ids), SCANS_PER_TASK))]


def start_backfill(session: Session, *, created_by: int,
                   project_id: int | None = None) -> tuple[JobRecord, list[int]]:
    """Record a backfill job: one task per frame with undescribed objects (flushed, not
    committed); the job and the task ids to enqueue once committed."""
    frames = [frame_id for frame_id, _, _ in SqlObjectDescriptorRepository(session)
              .undescribed(OBJECT_DESCRIPTOR_VERSION, project_id)]
    scans = scan_tasks(session) if project_id is None else []
    params = {"descriptor_set_version": OBJECT_DESCRIPTOR_VERSION, "project_id": project_id,
              "scan_descriptor_set_version": SCAN_DESCRIPTOR_SET_VERSION}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    return create_job(session, kind=BACKFILL_KIND, project_id=project_id, created_by=created_by,
                      hospital=None, params=params, params_hash=digest,
                      tasks=[*(TaskSpec(frame_id=frame_id) for frame_id in frames), *scans])


def _bright_on_dark(session: Session, job_ids: set[int | None]) -> dict[int | None, bool]:
    known = [i for i in job_ids if i is not None]
    out: dict[int | None, bool] = {None: False}
    for job_id, params in session.execute(select(JobRow.id, JobRow.params).where(JobRow.id.in_(known))):
        out[job_id] = json.loads(params).get("polarity") == "light-on-dark"
    return out


def describe_frame_objects(session_of: Any, blobs: FilesystemBlobStore, frame_id: int,
                           max_pixels: int) -> tuple[int, int]:
    """Describe the frame's objects lacking a descriptor; ``(described, skipped)``."""
    with session_of() as session:
        frame = session.get(FrameRow, frame_id)
        if frame is None:
            return 0, 0
        image_key, project_id = frame.image_key, frame.project_id
        rows = SqlObjectDescriptorRepository(session).frame_objects(frame_id, OBJECT_DESCRIPTOR_VERSION)
        jobs = dict(session.execute(select(PlanktonObjectRow.id, PlanktonObjectRow.job_id)
                                    .where(PlanktonObjectRow.frame_id == frame_id)).all())
        polarity = _bright_on_dark(session, set(jobs.values()))
    if not rows:
        return 0, 0
    pixels = decode_image(blobs.get(image_key), max_pixels=max_pixels).pixels
    vectors: list[tuple[int, Any]] = []
    skipped = 0
    for object_id, (r0, c0, r1, c1), mask_png, mask_key in rows:
        try:
            if mask_png is None and mask_key is None:
                raise BlobMissing(f"object {object_id} has no stored mask")
            stored = mask_png if mask_png is not None else blobs.get(str(mask_key))
            mask = to_gray(decode_image(stored).pixels) > 127
            inside_rows = np.flatnonzero(mask.any(axis=1))
            inside_cols = np.flatnonzero(mask.any(axis=0))
            top, left = r0 - int(inside_rows[0]), c0 - int(inside_cols[0])
            height, width = mask.shape
            window = pixels[top:top + height, left:left + width]
            if top < 0 or left < 0 or window.shape[:2] != mask.shape or r1 - r0 != \
                    int(inside_rows[-1]) - int(inside_rows[0]) + 1 or c1 - c0 != \
                    int(inside_cols[-1]) - int(inside_cols[0]) + 1:
                raise Problem(f"object {object_id}'s mask does not fit its box in the frame")
            inverted = polarity.get(jobs.get(object_id), False)
            vectors.append((object_id, describe_object(window, mask, bright_on_dark=inverted)))
        except (Problem, BlobMissing, IndexError) as error:
            skipped += 1
            logger.info("object not described", extra={"object_id": object_id, "reason": str(error)})
    with session_of() as session, session.begin():
        repository = SqlObjectDescriptorRepository(session)
        alive = set(session.scalars(select(PlanktonObjectRow.id).where(
            PlanktonObjectRow.id.in_([object_id for object_id, _ in vectors]))))
        for object_id, vector in vectors:
            if object_id in alive:  # a re-run may have replaced the frame's objects meanwhile
                repository.put(object_id, project_id, OBJECT_DESCRIPTOR_VERSION, vector)
    return len(vectors), skipped


def describe_scans(session_of: Any, blobs: FilesystemBlobStore, first: int, last: int,
                   max_pixels: int) -> tuple[int, int]:
    """Describe the scans ``first``..``last`` (ids) lacking a descriptor; ``(described, skipped)``."""
    with session_of() as session:
        undescribed = set(SqlScanDescriptorRepository(session).undescribed(SCAN_DESCRIPTOR_SET_VERSION))
        rows = session.execute(select(ScanRow.id, ScanRow.image_key).where(
            ScanRow.id >= first, ScanRow.id <= last).order_by(ScanRow.id)).all()
    vectors: list[tuple[int, Any]] = []
    skipped = 0
    for scan_id, image_key in rows:
        if scan_id not in undescribed:
            continue
        try:
            vectors.append((scan_id, describe_slice(read_mri(blobs.get(image_key), max_pixels=max_pixels))))
        except (Problem, BlobMissing) as error:
            skipped += 1
            logger.info("scan not described", extra={"scan_id": scan_id, "reason": str(error)})
    with session_of() as session, session.begin():
        repository = SqlScanDescriptorRepository(session)
        alive = set(session.scalars(select(ScanRow.id).where(
            ScanRow.id.in_([scan_id for scan_id, _ in vectors]))))
        for scan_id, rows_of_scan in vectors:
            if scan_id in alive:  # deleted meanwhile
                repository.put(scan_id, SCAN_DESCRIPTOR_SET_VERSION, rows_of_scan)
    return len(vectors), skipped


def backfill_frame(context: TaskContext, job: JobRecord, task: TaskRecord) -> TaskOutcome:
    """One ``descriptor-backfill`` task: the objects of one frame, or a range of scans."""
    if task.frame_id is None:
        if task.item is None or not task.item.startswith(_SCANS_ITEM):
            return TaskOutcome()
        first, last = (int(part) for part in task.item[len(_SCANS_ITEM):].split("-"))
        blobs = FilesystemBlobStore(context.settings.resolved_blob_dir)
        described, skipped = describe_scans(context.session, blobs, first, last,
                                            context.settings.max_image_pixels)
        return TaskOutcome(objects=described)
    blobs = FilesystemBlobStore(context.settings.resolved_blob_dir)
    described, skipped = describe_frame_objects(context.session, blobs, task.frame_id,
                                                context.settings.max_image_pixels)
    if skipped:
        logger.info("frame backfilled with skips", extra={"frame_id": task.frame_id, "skipped": skipped})
    return TaskOutcome(objects=described)


register_job_kind(BACKFILL_KIND, backfill_frame)
