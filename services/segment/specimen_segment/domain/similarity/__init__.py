"""Similar-image search over a user's library: descriptors of the pictures, and the query.

Rules, whatever the storage:

- **What is described.** Every library image when it is uploaded, and every kept
  segmentation whose result is a picture (not a mask or a label image, see
  :func:`is_picture`), gets the rows of :func:`describe_picture`: the whole picture first
  (``region`` 0), then up to :data:`MAX_REGIONS` regions proposed by :func:`region_proposals`.
  A picture's similarity to a query is the best over its rows, so a selection of an object
  finds the images that *contain* such an object, not only the ones that look like it overall.
  A picture with transparency (a cut-out on transparent) is described where it is opaque.
- **Versioned.** Rows carry the descriptor set version
  (:data:`specimen_imaging.similarity.DESCRIPTOR_SET_VERSION`); only rows of the current
  version are searched. ``python -m specimen_segment backfill-descriptors`` describes what
  has none of the current version.
- **Scoped inside the query.** The candidates are loaded by owner: another user's rows are
  never in the set that is ranked, so they cannot appear even as the nearest. Admins search
  their own library, like everyone (the library is owner-only).
- **Exact.** The ranking is exact (inner products over all of the owner's rows): a library
  is bounded by the quota (1000 images by default), and BENCHMARKS.md "Similar-image search"
  measures exact search at 10k rows well under a millisecond.
- **Other sources.** ``sources`` adds the scans of the caller's hospital and the plankton
  objects of their projects, which classify ranks in the caller's scope (its queries, with the
  caller's token) with the same query vector and descriptor set; the lists are merged by
  similarity into one top-k. Classify not answering fails the search (503).
- **The query is not its own answer.** A query by a library image (whole or a selection of
  it) leaves that image and its kept results out of the answer.
"""

from __future__ import annotations

from specimen_segment.domain.similarity.entities import (
    SOURCES,
    ForeignHit,
    Hit,
    PictureKey,
    ScopeVectors,
    SearchAnswer,
    SearchQuery,
    Selection,
    Source,
)
from specimen_segment.domain.similarity.ports import (
    ClassifySearch,
    DescriptorRepository,
    Pictures,
    ScopeIndex,
)
from specimen_segment.domain.similarity.rules import (
    DESCRIPTOR_SET_VERSION,
    MAX_REGION_FRACTION,
    MAX_REGIONS,
    MIN_REGION_FRACTION,
    PROPOSAL_SEGMENTS,
    WORK_SIDE,
    describe_picture,
    describe_region,
    is_picture,
    rank_pictures,
    region_proposals,
    working_copy,
)
from specimen_segment.domain.similarity.service import (
    DescriptorIndexer,
    SimilarImages,
)

__all__ = [
    "DESCRIPTOR_SET_VERSION",
    "MAX_REGIONS",
    "MAX_REGION_FRACTION",
    "MIN_REGION_FRACTION",
    "PROPOSAL_SEGMENTS",
    "SOURCES",
    "WORK_SIDE",
    "ClassifySearch",
    "DescriptorIndexer",
    "DescriptorRepository",
    "ForeignHit",
    "Hit",
    "PictureKey",
    "Pictures",
    "ScopeIndex",
    "ScopeVectors",
    "SearchAnswer",
    "SearchQuery",
    "Selection",
    "SimilarImages",
    "Source",
    "describe_picture",
    "describe_region",
    "is_picture",
    "rank_pictures",
    "region_proposals",
    "working_copy",
]
