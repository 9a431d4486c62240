"""The segment service's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from specimen_imaging.codecs import configure_decoder_limits
from specimen_imaging.objects import configure_object_limit
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker, ping
from specimen_kit.database_problems import install_database_problems
from specimen_kit.security import token_checks_ready
from specimen_kit.service import build_service_app
from specimen_kit.tokens import remote_token_verifier
from specimen_segment.adapters.descriptor_repository import OwnerVectorCache
from specimen_segment.api import algorithms, library, search
from specimen_segment.config import SegmentSettings


def create_app(settings: SegmentSettings | None = None) -> FastAPI:
    """Build the segment service; ``uvicorn specimen_segment.app:create_app --factory``."""
    settings = settings or SegmentSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The library's schema is made by `python -m specimen_segment migrate` (a Job), not here.
        engine = build_engine(settings.resolved_database_url,
                              pool_size=settings.resolved_database_pool_size,
                              pool_timeout=settings.database_pool_timeout_seconds)
        # Searches with sources scans/objects ask classify (sync: the handler runs in the threadpool).
        classify = (httpx.Client(base_url=settings.classify_url,
                                 timeout=settings.classify_timeout_seconds)
                    if settings.classify_url else None)
        try:
            app.state.classify_client = classify
            app.state.blob_store = await run_in_threadpool(
                FilesystemBlobStore, settings.resolved_blob_dir)
            app.state.sessionmaker = build_sessionmaker(engine)
            app.state.vector_cache = OwnerVectorCache(settings.search_cache_vectors)

            async def database_ready() -> None:
                await run_in_threadpool(ping, engine)

            app.state.readiness_checks["database"] = database_ready
            async with remote_token_verifier(settings) as verifier:
                app.state.token_verifier = verifier
                app.state.readiness_checks["token_revocations"] = token_checks_ready(app)
                yield
        finally:
            if classify is not None:
                classify.close()
            engine.dispose()

    configure_decoder_limits(settings.max_image_pixels)
    configure_object_limit(settings.max_objects)
    app = build_service_app(
        "segment", settings, lifespan,
        title="Specimen segment",
        description="Otsu thresholding, SLIC superpixels, object measurement, background "
        "removal, format conversion, a per-user image library and similar-image search.",
    )
    install_database_problems(app)
    app.include_router(algorithms.router, prefix="/api/v1")
    app.include_router(search.router, prefix="/api/v1")
    app.include_router(library.router, prefix="/api/v1")
    return app
