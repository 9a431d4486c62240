"""``POST /images/search``: the caller's library pictures most like an image or a selection,
and with ``sources`` the scans of their hospital and the objects of their projects.

Only the caller's own pictures are searched, whatever their role (the library is owner-only);
the query image, when it is a library image, is left out of its own answer. Scans and objects
are ranked by the classify service in the caller's scope (the caller's token is passed on).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from specimen_imaging.options import validate_params
from specimen_kit.errors import InvalidParameter
from specimen_kit.uploads import FileFields, read_payload, request_body_doc
from specimen_segment.api.deps import Owner, Search
from specimen_segment.api.library import _problem
from specimen_segment.api.search_schemas import SUPERPIXEL_FIELDS, SearchParams, SearchResults
from specimen_segment.domain.similarity import SearchQuery, Selection

SEARCH_FILES = FileFields(single=("image", "mask"), raw="image")
"""A search's files: the query image and the mask of its region (both optional)."""

router = APIRouter(prefix="/images", tags=["similar-image search"], responses={
    401: _problem("No valid bearer token."),
    404: _problem("image_id names no image of your library (others' look the same)."),
    413: _problem("The body or an image's pixel count is over the limit."),
    415: _problem("Not multipart, JSON or an image body."),
    422: _problem("Nothing (or two things) to search by, unknown or no superpixel ids, a mask "
                  "of another size than the image or with nothing inside, a limit out of "
                  "range, an unknown source, or an unreadable image."),
    503: _problem("sources names scans or objects and the classify service did not answer "
                  "(classify-unavailable); see Retry-After."),
})


async def _search_query(request: Request) -> SearchQuery:
    """The query's files and fields, sent the three ways every image route reads them."""
    payload = await read_payload(request, SEARCH_FILES)
    params = validate_params(SearchParams, payload.fields)
    unused = sorted(params.model_fields_set & set(SUPERPIXEL_FIELDS))
    if unused and params.ids is None:
        raise InvalidParameter(f"{', '.join(unused)}: superpixel parameters go with ids (and "
                               "image_id); leave them out otherwise")
    selection = None if params.ids is None else Selection(params.slic_params(), params.ids)
    return SearchQuery(limit=params.limit, upload=payload.first("image"), image_id=params.image_id,
                       selection=selection, mask=payload.first("mask"),
                       sources=tuple(dict.fromkeys(params.sources)))


Query = Annotated[SearchQuery, Depends(_search_query)]
_BODY: dict[str, Any] = request_body_doc(SearchParams.model_json_schema(), SEARCH_FILES)


@router.post("/search", response_model=SearchResults, openapi_extra=_BODY,
             summary="Your pictures (and with `sources`, your hospital's scans and your projects' "
                     "objects) most like an uploaded image, a library image, or a selection of "
                     "one (superpixel ids or a mask), best first")
def search_images(query: Query, owner: Owner, search: Search) -> SearchResults:
    return SearchResults.of(search.search(owner, query))
