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
