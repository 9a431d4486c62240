"""Named dependencies of the library routes: the library, its owner and the search.

One request is one unit of work over the database and the blob store
(:data:`specimen_kit.storage.DbSession` and :data:`~specimen_kit.storage.Blobs`): a 2xx means
the data is stored, a failure leaves no blob behind.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request

from specimen_imaging.codecs import decode_image, encode_image
from specimen_kit.security import CurrentPrincipal
from specimen_kit.storage import Blobs, DbSession
from specimen_kit.timestamps import utc_now
from specimen_segment.adapters.classify_search import HttpClassifySearch
from specimen_segment.adapters.descriptor_repository import SqlDescriptorRepository
from specimen_segment.adapters.repository import SqlLibraryRepository
from specimen_segment.config import SegmentSettings
from specimen_segment.domain.library import ImageLibrary, Quota
from specimen_segment.domain.similarity import DescriptorIndexer, SimilarImages
from specimen_segment.operations import Algorithms


def _owner(principal: CurrentPrincipal) -> int:
    # Any role may keep a library; the token's subject owns what it uploads.
    return principal.user_id


Owner = Annotated[int, Depends(_owner)]


def _settings(request: Request) -> SegmentSettings:
    settings: SegmentSettings = request.app.state.settings
    return settings


def _library(session: DbSession, blobs: Blobs,
             settings: Annotated[SegmentSettings, Depends(_settings)]) -> ImageLibrary:
    return ImageLibrary(
        SqlLibraryRepository(session), blobs,
        decode=partial(decode_image, max_pixels=settings.max_image_pixels), encode=encode_image,
        quota=Quota(images=settings.quota_images, bytes=settings.quota_bytes), clock=utc_now,
        operations=Algorithms(), descriptors=DescriptorIndexer(SqlDescriptorRepository(session)))


Library = Annotated[ImageLibrary, Depends(_library)]


def _search(session: DbSession, library: Library, request: Request,
            settings: Annotated[SegmentSettings, Depends(_settings)]) -> SimilarImages:
    classify = HttpClassifySearch(request.app.state.classify_client,
                                  request.headers.get("authorization", ""))
    return SimilarImages(
        library, SqlDescriptorRepository(session), request.app.state.vector_cache, classify,
        decode=partial(decode_image, max_pixels=settings.max_image_pixels),
        max_limit=settings.search_max_limit)


Search = Annotated[SimilarImages, Depends(_search)]
