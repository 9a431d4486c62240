"""The answer for a stored image (a scan's slice, a frame): as it was sent, or converted."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import Response

from specimen_kit.downloads import file_response
from specimen_kit.negotiation import check_quality, format_of, negotiate
from specimen_kit.records import Content


def sent_or_converted(sent: Content, conversions: Sequence[str], output: str | None,
                      accept: str | None, quality: int | None,
                      convert: Callable[[Content, str, int | None], Content]) -> Response:
    """``sent`` unchanged when neither ``output`` nor ``Accept`` asks for another format (and no
    ``quality``), else ``convert(sent, format, quality)``; 422/406 as the kit negotiates."""
    as_sent = format_of(sent.media_type) or "bin"
    fmt = negotiate(output, accept, (as_sent, *(f for f in conversions if f != as_sent)), as_sent)
    check_quality(fmt, quality)
    if fmt == as_sent and quality is None:
        return file_response(sent, negotiated=True)
    return file_response(convert(sent, fmt, quality), negotiated=True)
