"""The typed errors every Specimen service raises, free of any web framework.

Domain code raises subclasses of :class:`Problem` (``EmailTaken``, ``ImageTooLarge``); the
API layer renders them once, as RFC 9457 ``application/problem+json``
(:mod:`specimen_kit.problems`). This module imports nothing but the standard library, so a
domain package may use it and still import no FastAPI.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

PROBLEM_TYPE_BASE = "https://specimen.dev/problems/"
"""Every problem ``type`` is this plus a slug; the README's *Problem types* lists them all."""

_REGISTRY: dict[str, list[type[Problem]]] = {}


class Problem(Exception):
    """A request that cannot be served as sent.

    Base of every typed error a service raises. Subclasses set ``status``, ``title`` and
    ``slug`` (the last part of the problem ``type`` URI) and say in their docstring's first
    sentence what the problem means; an instance carries the ``detail`` for this occurrence and
    optional extension members. Every subclass is registered (:func:`problem_types`).
    """

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str] = "bad-request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY.setdefault(cls.slug, []).append(cls)

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


_REGISTRY[Problem.slug] = [Problem]


@dataclass(frozen=True, order=True)
class ProblemType:
    """One kind of problem: its ``type`` slug, HTTP status, title and what it means."""

    slug: str
    status: int
    title: str
    meaning: str
    classes: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


def load_problem_types(packages: Iterable[str]) -> list[ProblemType]:
    """:func:`problem_types` once every module of ``packages`` is imported (``__main__``
    modules aside: they run a command), so that every class that can be raised is counted."""
    for package in packages:
        module = importlib.import_module(package)
        for found in pkgutil.walk_packages(getattr(module, "__path__", []), package + "."):
            if not found.name.endswith(".__main__"):
                importlib.import_module(found.name)
    return problem_types()


def _meaning(cls: type[Problem]) -> str:
    """The first sentence of the class's own docstring (its title when it has none)."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    first = " ".join(doc.split("\n\n", 1)[0].split())
    return first or cls.title


def problem_types(classes: Iterable[type[Problem]] | None = None) -> list[ProblemType]:
    """Every problem type of the classes defined so far (or of ``classes``), by slug.

    A slug is one kind of problem: the first class that uses it (the most general, since a base
    is defined before its subclasses) gives the status, title and meaning; the others are
    listed in ``classes``. The registry holds the classes of every module imported so far, so
    a caller that wants them all imports the services' modules first.
    """
    if classes is None:
        # Specimen's own: a class a test defines on the fly is no type the suite can answer.
        classes = (c for group in _REGISTRY.values() for c in group
                   if c.__module__.partition(".")[0].startswith("specimen_"))
    by_slug: dict[str, list[type[Problem]]] = {}
    for cls in classes:
        by_slug.setdefault(cls.slug, []).append(cls)
    return sorted(
        ProblemType(slug, group[0].status, group[0].title, _meaning(group[0]),
                    tuple(sorted({f"{c.__module__}.{c.__qualname__}" for c in group})))
        for slug, group in by_slug.items())


class Unauthenticated(Problem):
    """No bearer token came with a request that needs one: log in and send the token."""

    status = 401
    title = "Not authenticated"
    slug = "unauthenticated"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'


class Forbidden(Problem):
    """The caller's role may not do this; a user with a higher role may."""

    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(Problem):
    """No such object, or none the caller may see (a 404, never a 403: nobody learns it exists)."""

    status = 404
    title = "Not found"
    slug = "not-found"


class PayloadTooLarge(Problem):
    """The request body is larger than the route's limit (``SPECIMEN_MAX_BODY_BYTES``, or
    ``SPECIMEN_MAX_UPLOAD_BYTES`` on the bulk upload routes), named in ``limit_setting``."""

    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class TooManyRequests(Problem):
    """Too many requests from this address in the rate limit's window; wait ``Retry-After``."""

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


class ValidationFailed(Problem):
    """A parameter or field cannot be accepted (422); ``errors`` names each one with its
    ``location`` (``body.count``, ``query.sort``), ``message`` and ``type``."""

    status = 422
    title = "Invalid request"
    slug = "validation-error"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors)
        super().__init__(summary or "The request is invalid.", errors=errors)


class NoRoute(NotFound):
    """No route matches the request's path (a typo, or an endpoint that is not public)."""

    title = "No such route"
    slug = "no-route"


class MethodNotAllowed(Problem):
    """The path exists, but not with this method; ``allowed`` and ``Allow`` list those it takes."""

    status = 405
    title = "Method not allowed"
    slug = "method-not-allowed"

    def __init__(self, detail: str, allowed: Iterable[str], **extensions: Any) -> None:
        self.allowed = sorted(set(allowed))
        super().__init__(detail, allowed=self.allowed, **extensions)
        self.headers["Allow"] = ", ".join(self.allowed)


class HttpError(Problem):
    """An HTTP error raised by the framework itself, with no more specific type."""

    title = "HTTP error"
    slug = "http-error"

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status  # type: ignore[misc]  # the one type whose status varies


class MalformedRequest(Problem):
    """The request's framing is broken (a ``Content-Length`` that is not a number)."""

    title = "Malformed request"
    slug = "malformed-request"


class RequestTimeout(Problem):
    """The request body arrived too slowly: send it faster, or smaller."""

    status = 408
    title = "Request timeout"
    slug = "request-timeout"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers["Connection"] = "close"


class JsonTooDeep(Problem):
    """The JSON body is nested deeper than ``SPECIMEN_MAX_JSON_DEPTH`` allows."""

    status = 400
    title = "JSON nested too deeply"
    slug = "json-too-deep"


class Saturated(Problem):
    """The service is working on as many requests as it may at once; retry after ``Retry-After``."""

    status = 503
    title = "Service saturated"
    slug = "saturated"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers["Retry-After"] = str(retry_after)


class InternalError(Problem):
    """A bug: the server failed to handle the request; it is logged under the ``request_id``."""

    status = 500
    title = "Internal error"
    slug = "internal-error"

    def __init__(self) -> None:
        super().__init__("The server failed to handle this request; it has been logged.")
