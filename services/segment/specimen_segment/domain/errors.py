"""Typed errors of the segment domain, in the suite's one error hierarchy.

Every :class:`SegmentError` is a kit :class:`~specimen_kit.errors.Problem`, which the API
layer renders as ``application/problem+json``.
"""

from __future__ import annotations

from specimen_kit.errors import Problem


class SegmentError(Problem):
    """Base of every error the segment domain and its codecs raise.

    Parameters
    ----------
    detail : str
        Human-readable explanation for this occurrence: names the bad value and the fix.
    """

    status = 422
    title = "Segmentation error"
    slug = "segment-error"


class InvalidParameter(SegmentError):
    """A parameter is out of range or of the wrong kind (422)."""

    status = 422
    title = "Invalid parameter"
    slug = "invalid-parameter"


class FlatImage(SegmentError):
    """All pixels have the same value, so there is no threshold between two classes (422)."""

    status = 422
    title = "Flat image"
    slug = "flat-image"

    def __init__(self, value: float) -> None:
        shown = int(value) if float(value).is_integer() else value
        super().__init__(f"the image cannot be thresholded: all pixels are {shown}")
        self.value = value
