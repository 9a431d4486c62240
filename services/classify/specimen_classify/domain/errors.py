"""Typed errors of the classify domain and its image readers, in the suite's one error hierarchy.

Every :class:`ClassifyError` is a kit :class:`~specimen_kit.errors.Problem`, which the API
layer renders once as ``application/problem+json``; nothing below the API layer knows HTTP
beyond the ``status`` class attribute.
"""

from __future__ import annotations

from specimen_kit.errors import Problem


class ClassifyError(Problem):
    """Base of every error the classify domain and its adapters raise.

    Parameters
    ----------
    detail : str
        Human-readable explanation for this occurrence: names the bad value and the fix.
    """

    status = 422
    title = "Classification error"
    slug = "classify-error"


class InvalidImage(ClassifyError):
    """A pixel array of a shape or dtype the algorithm does not accept (422)."""

    status = 422
    title = "Invalid image"
    slug = "invalid-image"


class NoBrainFound(ClassifyError):
    """The slice has no bright region large enough to be a brain, so there is nothing to crop (422).

    Parameters
    ----------
    reason : str
        Why no brain was found (flat slice, nothing above the threshold, only specks).
    """

    status = 422
    title = "No brain found"
    slug = "no-brain-found"

    def __init__(self, reason: str) -> None:
        super().__init__(f"no brain outline was found in the slice: {reason}", reason=reason)
        self.reason = reason


class NotABrainMri(ClassifyError):
    """The slice is unlike anything the MRI model learned, so no label is given for it (422).

    The classification routes answer such a slice ``label: "uncertain"`` with
    ``out_of_distribution: true`` instead; this error is for what must store a label (scans).
    """

    status = 422
    title = "Not a brain MRI slice the model knows"
    slug = "not-a-brain-mri"

    def __init__(self, reason: str) -> None:
        super().__init__(f"the slice is unlike the MRI slices the model was trained on, so it gives "
                         f"no label: {reason}", reason=reason)
        self.reason = reason


class ModelNotFound(ClassifyError):
    """No model of that name, or no such version of it, is in the store (404)."""

    status = 404
    title = "Model not found"
    slug = "model-not-found"


class ModelUnavailable(ClassifyError):
    """The model has no usable version yet, so nothing can be classified with it (503).

    The fix is operational: train the defaults (``python -m specimen_classify bootstrap-models``,
    which ``make run`` and the images do) or activate a version that loads.
    """

    status = 503
    title = "Model unavailable"
    slug = "model-unavailable"


class UnloadableModel(ClassifyError):
    """A version asked for cannot be served: its artifact does not load or does not fit this
    service (other feature definition, other input); the serving version stays (409)."""

    status = 409
    title = "Model version cannot be served"
    slug = "unloadable-model"


# --- MRI scan records (specimen_classify.domain.scans) -----------------------------------------


class ScanNotFound(ClassifyError):
    """No scan with this id is in the caller's scope (404).

    Also when the scan exists in another hospital: ids are never confirmed to someone who may
    not see them, so the answer is the same as for an id that was never used.
    """

    status = 404
    title = "Scan not found"
    slug = "scan-not-found"

    def __init__(self, scan_id: int) -> None:
        super().__init__(f"there is no scan {scan_id} among the scans you can see",
                         scan_id=scan_id)


class HospitalNotAllowed(ClassifyError):
    """A technician or moderator named a hospital other than their own (403).

    Only an admin files or moves scans across hospitals; the others work in the hospital their
    token names.
    """

    status = 403
    title = "Hospital not allowed"
    slug = "hospital-not-allowed"

    def __init__(self, requested: str, own: str) -> None:
        super().__init__(
            f"you may only name your own hospital {own!r}, not {requested!r}; leave the field "
            "out to use yours, or ask an admin", hospital=requested)


class ScanEditForbidden(ClassifyError):
    """A technician tried to change, re-classify or delete a scan (403): moderators and admins do."""

    status = 403
    title = "Forbidden"
    slug = "forbidden"


class InvalidScanData(ClassifyError):
    """A scan field the request schema cannot judge alone is invalid: too long, empty, control
    characters (422). ``field`` names it."""

    status = 422
    title = "Invalid scan data"
    slug = "invalid-scan-data"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, field=field)


class UnknownHospital(ClassifyError):
    """An admin named a hospital that is not on the users service's list (422)."""

    status = 422
    title = "Unknown hospital"
    slug = "unknown-hospital"

    def __init__(self, given: str, hospital_id: str) -> None:
        super().__init__(
            f"no hospital has the id {hospital_id!r} (from {given!r}); name one of "
            "GET /api/v1/hospitals, or create it there first", hospital=given,
            hospital_id=hospital_id)


class HospitalsUnavailable(ClassifyError):
    """The users service, which keeps the list of hospitals, did not answer whether a hospital
    exists (503): nothing is filed under a hospital that may not exist."""

    status = 503
    title = "Hospital list unavailable"
    slug = "hospitals-unavailable"

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = str(retry_after)


class ExportTooLarge(ClassifyError):
    """The CSV export would hold more rows than the configured limit (422); narrow the filters."""

    status = 422
    title = "Export too large"
    slug = "export-too-large"

    def __init__(self, rows: int, max_rows: int) -> None:
        super().__init__(
            f"the export would hold {rows} scans, more than the limit of {max_rows}; narrow it "
            "with created_after/created_before or other filters", rows=rows, max_rows=max_rows)


# --- Plankton features (specimen_classify.domain.plankton.features) -------------------------------------


class FeatureMismatch(ClassifyError):
    """Feature rows (or the service's own measurements) do not match the plankton model's (422).

    The model was trained on one feature definition: these names, in this order, of one
    feature-set version. ``differences`` lists what differs; the fix is to send rows measured by
    the matching segment version, or to retrain the model on the current feature set.
    """

    status = 422
    title = "Feature mismatch"
    slug = "feature-mismatch"

    def __init__(self, detail: str, *, differences: list[str], expected_feature_set_version: str,
                 expected_feature_names: list[str]) -> None:
        super().__init__(detail, differences=differences,
                         expected_feature_set_version=expected_feature_set_version,
                         expected_feature_names=expected_feature_names)
        self.differences = differences


# --- Plankton projects (specimen_classify.domain.plankton.projects) ----------------------------


class ProjectNotFound(ClassifyError):
    """No project with this id is visible to the caller (404): also when it exists but the
    caller is no member, so ids cannot be probed."""

    status = 404
    title = "Project not found"
    slug = "project-not-found"

    def __init__(self, project_id: int) -> None:
        super().__init__(f"there is no project {project_id} among the projects you can see",
                         project_id=project_id)


class FrameNotFound(ClassifyError):
    """No frame with this id in a project the caller can see (404)."""

    status = 404
    title = "Frame not found"
    slug = "frame-not-found"

    def __init__(self, frame_id: int) -> None:
        super().__init__(f"there is no frame {frame_id} among the frames you can see",
                         frame_id=frame_id)


class ObjectNotFound(ClassifyError):
    """No plankton object with this id in a project the caller can see (404)."""

    status = 404
    title = "Object not found"
    slug = "object-not-found"

    def __init__(self, object_id: int) -> None:
        super().__init__(f"there is no object {object_id} among the objects you can see",
                         object_id=object_id)


class ProjectRoleRequired(ClassifyError):
    """The caller sees the project but their role in it does not allow this (403)."""

    status = 403
    title = "Project role required"
    slug = "project-role-required"

    def __init__(self, needed: str, have: str) -> None:
        super().__init__(f"this needs the {needed} role in the project; you are {have}",
                         needed=needed, role=have)


class ArchiveRefused(ClassifyError):
    """A ZIP of frames is refused whole (422): unreadable, too many files, too large once
    inflated, or inflating like a zip bomb. Nothing of the request is imported."""

    status = 422
    title = "Archive refused"
    slug = "archive-refused"

    def __init__(self, archive: str, reason: str) -> None:
        super().__init__(f"the archive {archive!r} is refused: {reason}; nothing was imported",
                         archive=archive)


class InvalidFrameMetadata(ClassifyError):
    """A frame's metadata (form field or table cell) cannot be used (422); ``field`` names it."""

    status = 422
    title = "Invalid frame metadata"
    slug = "invalid-frame-metadata"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, field=field)


class NoFramesImported(ClassifyError):
    """An upload in which no file could become a frame (422); ``rejected`` says why for each."""

    status = 422
    title = "No frames imported"
    slug = "no-frames-imported"


class InvalidProjectData(ClassifyError):
    """A project, member or review field the request schema cannot judge alone (422)."""

    status = 422
    title = "Invalid project data"
    slug = "invalid-project-data"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, field=field)


class UnknownObjects(ClassifyError):
    """A review names object ids that are not in the project (422); ``ids`` lists them and
    nothing is changed."""

    status = 422
    title = "Unknown objects"
    slug = "unknown-objects"

    def __init__(self, ids: list[int], project_id: int) -> None:
        shown = ", ".join(str(i) for i in ids[:20]) + (" …" if len(ids) > 20 else "")
        super().__init__(f"objects {shown} are not in project {project_id}; nothing was changed",
                         ids=ids)


class TileNotFound(ClassifyError):
    """The tile's zoom level or position is outside the frame's pyramid (404)."""

    status = 404
    title = "Tile not found"
    slug = "tile-not-found"


class ObjectImageMissing(ClassifyError):
    """The object has no stored crop or mask (404): its run did not write one."""

    status = 404
    title = "Object image missing"
    slug = "object-image-missing"


class MemberNotFound(ClassifyError):
    """The user is not a member of the project (404); the owner always is."""

    status = 404
    title = "Member not found"
    slug = "member-not-found"

    def __init__(self, project_id: int, user_id: int) -> None:
        super().__init__(f"user {user_id} is not a member of project {project_id}",
                         project_id=project_id, user_id=user_id)


class ObjectNotDescribed(ClassifyError):
    """The query object has no descriptor yet (409): it was stored before the similar-object
    search; ``python -m specimen_classify backfill-object-descriptors`` describes it."""

    status = 409
    title = "Object not described"
    slug = "object-not-described"

    def __init__(self, object_id: int) -> None:
        super().__init__(f"object {object_id} has no similarity descriptor yet; run the "
                         "descriptor backfill (`python -m specimen_classify "
                         "backfill-object-descriptors`), or search by its crop", object_id=object_id)


class NoScansToImport(ClassifyError):
    """A scan import whose archive holds no slice to import (422); ``rejected`` says why for
    each member that was left out. No job is created."""

    status = 422
    title = "No scans to import"
    slug = "no-scans-to-import"


class InvalidScanTable(ClassifyError):
    """The metadata table beside a scan import's slices is unusable (422): not UTF-8 text, no
    ``file_name`` column, an unknown column. No job is created."""

    status = 422
    title = "Invalid scan table"
    slug = "invalid-scan-table"


class ImportMemberRejected(ClassifyError):
    """A member of a scan import that is not imported (a task's error, never a response):
    an unsafe path, over the size limits, inflating like a zip bomb, or encrypted."""

    status = 422
    title = "Import member rejected"
    slug = "import-member-rejected"


class TrainingDataInsufficient(ClassifyError):
    """A plankton training's projects hold too few validated objects (422): fewer than two
    categories with at least the configured number of validated objects each."""

    status = 422
    title = "Not enough validated objects"
    slug = "training-data-insufficient"


class ScanNotDescribed(ClassifyError):
    """The query scan has no descriptor yet (409): it was filed before the scan search; a
    ``descriptor-backfill`` job describes it."""

    status = 409
    title = "Scan not described"
    slug = "scan-not-described"

    def __init__(self, scan_id: int) -> None:
        super().__init__(f"scan {scan_id} has no similarity descriptor yet; run the descriptor "
                         "backfill (`python -m specimen_classify backfill-object-descriptors`), "
                         "or search by its image", scan_id=scan_id)
