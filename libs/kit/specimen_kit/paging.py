"""The paging parameters every list route takes, defined once (API.md, *Lists*).

``limit`` is 1 … 500 (default 50) and ``offset`` 0 … 10⁹: a bound every database column type
holds, so that no offset reaches the driver as an integer it cannot bind (a 500 with
``OverflowError`` before this bound existed).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import Field

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 10**9

_LIMIT_HELP = f"How many items to return, 1 … {MAX_LIMIT}."
_OFFSET_HELP = f"How many items to skip, 0 … {MAX_OFFSET}."

# For a route's own query parameters.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=_LIMIT_HELP)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=_OFFSET_HELP)]

# For a pydantic model that gathers a route's query parameters.
LimitField = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=_LIMIT_HELP)]
OffsetField = Annotated[int, Field(ge=0, le=MAX_OFFSET, description=_OFFSET_HELP)]
