"""Named dependencies of the library routes: the request's unit of work, the library, the owner.

One request is one unit of work over two stores. :data:`Blobs` stages the blob changes and
:data:`DbSession` (which depends on it) holds the transaction; on the way out the session
commits or rolls back first, then the staged blobs see the outcome: a failure deletes the blobs
this request wrote, a commit removes the blobs of the rows it deleted. Both are function-scoped,
so all of it happens before the response is sent: a 2xx means the data is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from specimen_kit.security import CurrentPrincipal
from specimen_segment.adapters.blobstore import FilesystemBlobStore, StagedBlobs
from specimen_segment.adapters.codecs import decode_image, encode_image
from specimen_segment.adapters.repository import SqlLibraryRepository
from specimen_segment.config import SegmentSettings
from specimen_segment.domain.library import ImageLibrary, Quota
from specimen_segment.operations import run_operation


def utc_now() -> datetime:
    return datetime.now(UTC)


def _staged_blobs(request: Request) -> Iterator[StagedBlobs]:
    store: FilesystemBlobStore = request.app.state.blob_store
    staged = StagedBlobs(store)
    try:
        yield staged
    except BaseException:
        staged.discard_written()
        raise
    staged.apply_removals()


Blobs = Annotated[StagedBlobs, Depends(_staged_blobs, scope="function")]


def _db_session(request: Request, _blobs: Blobs) -> Iterator[Session]:
    """One transaction per request: committed when the handler succeeds, rolled back if not.

    A failing commit raises into :func:`_staged_blobs` like any other error, so the blobs
    written for the lost rows are deleted too.
    """
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    with sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


# scope="function": commit before the response is sent, so a 2xx means the data is stored.
DbSession = Annotated[Session, Depends(_db_session, scope="function")]


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
        run_operation=run_operation)


Library = Annotated[ImageLibrary, Depends(_library)]
