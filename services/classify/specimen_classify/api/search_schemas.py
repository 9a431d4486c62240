"""What the similarity searches' requests share: a ``descriptor`` with its
``descriptor_set_version`` (what segment's ``POST /images/search`` sends) and a ``limit``.
``POST /scans/search`` and ``POST /objects/search`` extend :class:`DescriptorSearchParams`."""

from __future__ import annotations

from pydantic import Field, field_validator

from specimen_imaging.options import Params, comma_separated

MAX_DESCRIPTOR_NUMBERS = 1024
"""A loose cap on a sent descriptor's length (the domain names the set's own length)."""


class DescriptorSearchParams(Params):
    """A search's ``descriptor`` + ``descriptor_set_version`` and ``limit``; the subclass adds
    its own query (a record id) and says, in its docstring, which of them it takes."""

    descriptor: list[float] | None = Field(
        None, min_length=1, max_length=MAX_DESCRIPTOR_NUMBERS,
        description="A similarity descriptor (as segment computes one for an image or a "
                    "selection); with descriptor_set_version.")
    descriptor_set_version: str | None = Field(
        None, min_length=1, max_length=16,
        description="The descriptor set the descriptor was made with; another than the one "
                    "searched is a 422 (vectors of two versions are never compared).")
    limit: int = Field(10, ge=1, description="How many to answer, best first (at most the "
                                             "search's setting: SPECIMEN_CLASSIFY_SCAN_SEARCH_"
                                             "MAX_LIMIT for scans, SPECIMEN_CLASSIFY_OBJECT_"
                                             "SEARCH_MAX_LIMIT for objects).")

    _numbers = field_validator("descriptor", mode="before")(comma_separated)  # "0.1,0.2,…"
