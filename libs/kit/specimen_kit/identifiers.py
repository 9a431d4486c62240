"""Integer record ids in paths, bounded once for every service.

Ids are 32-bit integer columns (SQLite and PostgreSQL ``INTEGER``). An id beyond that range
names no record, but reaching the driver it fails to bind (a 500 on PostgreSQL before this
bound existed): it is refused as a 422 instead, like any other invalid value.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_RECORD_ID = 2**31 - 1

RecordId = Annotated[int, Path(ge=1, le=MAX_RECORD_ID, description=f"The record's id, 1 … {MAX_RECORD_ID}.")]
