"""The typed errors every Specimen service raises, free of any web framework.

Domain code raises subclasses of :class:`Problem` (``EmailTaken``, ``ImageTooLarge``); the
API layer renders them once, as RFC 9457 ``application/problem+json``
(:mod:`specimen_kit.problems`). This module imports nothing but the standard library, so a
domain package may use it and still import no FastAPI.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Problem(Exception):
    """Base of every typed error a service raises.

    Subclasses set ``status``, ``title`` and ``slug`` (the last part of the problem ``type``
    URI); an instance carries the ``detail`` for this occurrence and optional extension members.
    """

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str] = "bad-request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}


class Unauthenticated(Problem):
    status = 401
    title = "Not authenticated"
    slug = "unauthenticated"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'


class Forbidden(Problem):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(Problem):
    status = 404
    title = "Not found"
    slug = "not-found"


class PayloadTooLarge(Problem):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class TooManyRequests(Problem):
    status = 429
    title = "Too many requests"
    slug = "too-many-requests"

    def __init__(self, detail: str, retry_after: int, **extensions: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extensions)
        self.headers["Retry-After"] = str(retry_after)


class ImageTooLarge(Problem):
    """The image has more pixels than the configured limit (413).

    Raised from the header, before any pixel is decoded (a decompression bomb never is).
    """

    status = 413
    title = "Image too large"
    slug = "image-too-large"

    def __init__(self, pixels: int, max_pixels: int, size: tuple[int, int] | None = None) -> None:
        shown = f"{size[0]}x{size[1]} = {pixels}" if size else str(pixels)
        super().__init__(
            f"the image is {shown} pixels, more than the limit of {max_pixels} pixels; "
            "send a smaller image",
            pixels=pixels,
            max_pixels=max_pixels,
        )
        self.pixels = pixels
        self.max_pixels = max_pixels
        self.size = size


class UnreadableImage(Problem):
    """The bytes are not a decodable image: empty, truncated, corrupt or not an image (422)."""

    status = 422
    title = "Unreadable image"
    slug = "unreadable-image"


class UnsupportedFormat(Problem):
    """The image (or data) is of a format the route does not accept (415)."""

    status = 415
    title = "Unsupported image format"
    slug = "unsupported-format"


class MalformedJson(Problem):
    """A JSON body that does not parse (400, as FastAPI's own body parsing answers it)."""

    status = 400
    title = "Malformed JSON"
    slug = "malformed-json"


class InvalidParameter(Problem):
    """A parameter is out of range or of the wrong kind (422)."""

    status = 422
    title = "Invalid parameter"
    slug = "invalid-parameter"


class UnsupportedMediaType(Problem):
    """The request body is of a content type the route does not read (415)."""

    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"
