"""The segment service's typed errors; the kit's one handler renders them as problem+json."""

from __future__ import annotations

import uuid

from specimen_kit.errors import NotFound, Problem


class ImageNotFound(NotFound):
    """No image with this id belongs to the caller (also when it belongs to someone else)."""

    title = "Image not found"
    slug = "image-not-found"

    def __init__(self, image_id: uuid.UUID) -> None:
        super().__init__(f"No image {image_id} is in your library.", image_id=str(image_id))


class SegmentationNotFound(NotFound):
    title = "Segmentation not found"
    slug = "segmentation-not-found"

    def __init__(self, image_id: uuid.UUID, segmentation_id: uuid.UUID) -> None:
        super().__init__(f"Image {image_id} has no segmentation {segmentation_id}.",
                         image_id=str(image_id), segmentation_id=str(segmentation_id))


class QuotaExceeded(Problem):
    """Keeping this would take the user over their quota of images or bytes (409).

    409, not 413: the request itself is acceptable; the conflict is with what the user already
    stores, and deleting something resolves it.
    """

    status = 409
    title = "Quota exceeded"
    slug = "quota-exceeded"

    def __init__(self, quota: str, used: int, requested: int, limit: int) -> None:
        unit = "images" if quota == "images" else "bytes"
        super().__init__(
            f"Your library holds {used} {unit} of the {limit} allowed; keeping {requested} more "
            f"would exceed the quota. Delete images or results to make room.",
            quota=quota, used=used, requested=requested, limit=limit)


class InvalidImageName(Problem):
    status = 422
    title = "Invalid image name"
    slug = "invalid-image-name"


class ClassifyUnavailable(Problem):
    """A search with ``sources`` scans or objects could not ask the classify service (503): not
    set up (``SPECIMEN_SEGMENT_CLASSIFY_URL``), unreachable, too slow, or failing. Never a silent
    answer from the library alone."""

    status = 503
    title = "Classify service unavailable"
    slug = "classify-unavailable"

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = str(retry_after)


class ClassifyRefused(Problem):
    """The classify service refused the part of a search it answers with a 4xx other than 401
    and 403 (which pass on as themselves): 422, with classify's status and reason (a limit over
    its own, say)."""

    status = 422
    title = "Classify refused the search"
    slug = "classify-refused"

    def __init__(self, source: str, upstream_status: int, reason: str) -> None:
        super().__init__(f"the classify service refused the {source} part of the search "
                         f"({upstream_status}): {reason}", source=source,
                         upstream_status=upstream_status)
