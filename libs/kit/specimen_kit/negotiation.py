"""Choosing the answer's format (API.md): the ``output`` parameter, else ``Accept``, else the
route's default.

``output`` names a format (``png``, ``jpeg``, ``gif``, ``webp``, ``tiff``, ``bmp``, ``json``,
``zip``, ``csv``) or its media type; one the route does not offer is a 422 naming the choices.
Without it, ``Accept`` is read with its q-values and the most specific matching range; when it
admits none of the route's formats the answer is a 406 problem. Never a silent fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Header, Query

from specimen_kit.errors import InvalidParameter, Problem

MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "json": "application/json",
    "zip": "application/zip",
    "csv": "text/csv",
    "dicom": "application/dicom",
}
_ALIASES = {"jpg": "jpeg", "tif": "tiff", "image/jpg": "jpeg", "image/tif": "tiff"}
_BY_MEDIA_TYPE = {media_type: name for name, media_type in MEDIA_TYPES.items()}


class NotAcceptable(Problem):
    """None of the route's formats is admitted by the ``Accept`` header (406)."""

    status = 406
    title = "Not acceptable"
    slug = "not-acceptable"


def format_of(media_type: str) -> str | None:
    """The format name of ``media_type`` (``image/png`` → ``png``), or ``None`` if unknown."""
    return _BY_MEDIA_TYPE.get(media_type.strip().lower())


def _format_name(value: str) -> str | None:
    text = value.strip().lower()
    text = _ALIASES.get(text, text)
    if text in MEDIA_TYPES:
        return text
    return _BY_MEDIA_TYPE.get(text)


def _accept_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media_range = pieces[0].lower()
        if not media_range:
            continue
        q = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((media_range, q))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> float:
    """q of the most specific range that matches ``media_type`` (RFC 9110 §12.5.1)."""
    main = media_type.split("/")[0]
    best_specificity, best_q = -1, 0.0
    for media_range, q in ranges:
        if media_range == media_type:
            specificity = 2
        elif media_range == f"{main}/*":
            specificity = 1
        elif media_range == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, best_q = specificity, q
    return best_q


def negotiate(requested: str | None, accept: str | None, offered: Sequence[str], default: str) -> str:
    """The format to answer in, among ``offered`` (format names; ``default`` is one of them).

    Examples
    --------
    >>> negotiate(None, "image/webp, image/*;q=0.5", ("png", "webp", "json"), "png")
    'webp'
    >>> negotiate("jpg", None, ("png", "jpeg"), "png")
    'jpeg'
    """
    if requested is not None:
        name = _format_name(requested)
        if name is None or name not in offered:
            raise InvalidParameter(
                f"output={requested!r} is not offered here; use one of {', '.join(offered)}"
            )
        return name
    if not accept or not accept.strip():
        return default
    ranges = _accept_ranges(accept)
    candidates = [default, *(name for name in offered if name != default)]
    scored = [(_quality(MEDIA_TYPES[name], ranges), -i, name) for i, name in enumerate(candidates)]
    q, _, name = max(scored)
    if q <= 0:
        shown = ", ".join(MEDIA_TYPES[n] for n in offered)
        raise NotAcceptable(
            f"Accept: {accept} admits none of this route's formats: {shown}; or pass output=<format>"
        )
    return name


QUALITY_FORMATS = ("jpeg", "webp")


def check_quality(fmt: str, quality: int | None) -> None:
    """A quality goes with a lossy format only: with any other it would be silently unused."""
    if quality is not None and fmt not in QUALITY_FORMATS:
        raise InvalidParameter(f"quality applies to output jpeg or webp only, not {fmt}; "
                               "leave it out or choose one of those")


def output_query(choices: Sequence[str], description: str) -> Any:
    """The ``output`` query parameter of a download route: free text (aliases and media types
    are read too) documented with ``choices`` as its enum."""
    return Query(description=description, json_schema_extra={"enum": list(choices)})


Quality = Annotated[int | None, Query(
    ge=1, le=100,
    description="JPEG/WebP quality when converting (JPEG default 95; WebP lossless without it).")]
"""The ``quality`` query parameter; :func:`check_quality` refuses it with other formats."""
AcceptHeader = Annotated[str | None, Header(alias="accept", include_in_schema=False)]
"""The ``Accept`` header, read by :func:`negotiate` when no ``output`` is given."""
