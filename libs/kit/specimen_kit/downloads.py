"""Answering with a stored file: one ``Content-Disposition`` for every service.

RFC 6266: an ASCII fallback ``filename`` for old clients, the exact UTF-8 name in ``filename*``.
A file whose format was negotiated (``output`` or ``Accept``) says ``Vary: Accept`` so that
caches keep one copy per format.

>>> content_disposition("scan 12 é.png")
'attachment; filename="scan 12 _.png"; filename*=UTF-8\\'\\'scan%2012%20%C3%A9.png'
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi.responses import Response

from specimen_kit.records import Content


def content_disposition(filename: str, kind: Literal["attachment", "inline"] = "attachment") -> str:
    """The ``Content-Disposition`` value naming ``filename``, safe for any characters in it."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    fallback = "".join("_" if c in '\\"' or ord(c) < 32 or ord(c) == 127 else c for c in fallback)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_response(content: Content, *, negotiated: bool = False) -> Response:
    """``content`` as a download under its name; ``negotiated`` adds ``Vary: Accept``."""
    headers = {"Content-Disposition": content_disposition(content.filename)}
    if negotiated:
        headers["Vary"] = "Accept"
    return Response(content.data, media_type=content.media_type, headers=headers)
