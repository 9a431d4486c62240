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


class ImageTooLarge(ClassifyError):
    """The image has more pixels than the configured limit (413).

    Raised from the header (image or DICOM), before any pixel is decoded.
    """

    status = 413
    title = "Image too large"
    slug = "image-too-large"

    def __init__(self, pixels: int, max_pixels: int, size: tuple[int, int] | None = None) -> None:
        shown = f"{size[0]}x{size[1]} = {pixels}" if size else str(pixels)
        super().__init__(
            f"the image is {shown} pixels, more than the limit of {max_pixels} pixels; send a smaller image",
            pixels=pixels,
            max_pixels=max_pixels,
        )
        self.pixels = pixels
        self.max_pixels = max_pixels
        self.size = size


class UnreadableImage(ClassifyError):
    """The bytes are not a decodable MRI image: empty, truncated, corrupt, not an image (422)."""

    status = 422
    title = "Unreadable image"
    slug = "unreadable-image"


class UnsupportedFormat(ClassifyError):
    """A readable image in a format not accepted for MRI slices (415)."""

    status = 415
    title = "Unsupported image format"
    slug = "unsupported-format"
