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


class ImageTooLarge(SegmentError):
    """The image has more pixels than the configured limit (413).

    Raised from the header, before any pixel is decoded.
    """

    status = 413
    title = "Image too large"
    slug = "image-too-large"

    def __init__(self, pixels: int, max_pixels: int, size: tuple[int, int] | None = None) -> None:
        shown = f"{size[0]}x{size[1]} = {pixels}" if size else str(pixels)
        super().__init__(
            f"the image is {shown} pixels, more than the limit of {max_pixels} pixels; send a smaller image"
        )
        self.pixels = pixels
        self.max_pixels = max_pixels
        self.size = size


class UnreadableImage(SegmentError):
    """The bytes are not a decodable image: empty, truncated, corrupt or not an image (422)."""

    status = 422
    title = "Unreadable image"
    slug = "unreadable-image"


class UnsupportedFormat(SegmentError):
    """The image format is readable in principle but not accepted here (415)."""

    status = 415
    title = "Unsupported image format"
    slug = "unsupported-format"
