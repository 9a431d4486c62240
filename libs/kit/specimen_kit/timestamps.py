"""One way to write a moment: RFC 3339 in UTC with ``Z``, in JSON answers and CSV cells alike.

Databases hand back naive datetimes (SQLite keeps no offset); every moment Specimen stores is
UTC, so a naive value is read as UTC rather than as local time. Milliseconds, as JavaScript's
``Date.prototype.toISOString`` writes them, so the web UI and scripts parse the same string.

>>> from datetime import datetime
>>> rfc3339(datetime(2026, 12, 6, 3, 50, 29, 123456))
'2026-12-06T03:50:29.123Z'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def utc_now() -> datetime:
    """The current moment, timezone-aware in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive value is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """``moment`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC."""
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    PlainSerializer(rfc3339, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "examples": ["2026-12-06T03:50:29.123Z"]}, mode="serialization"),
]
"""A datetime field of an answer schema: serialized by :func:`rfc3339`."""
