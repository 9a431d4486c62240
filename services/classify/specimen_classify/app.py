"""The classify service's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from redis import Redis

from specimen_classify.adapters.forest_runtime import OnnxPlanktonModel
from specimen_classify.adapters.frame_images import DecodedFrames
from specimen_classify.adapters.jobs import job_queue_of
from specimen_classify.adapters.model_registry import LoadedModels
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.mri_runtime import LiteRtMriModel
from specimen_classify.adapters.object_descriptor_repository import ProjectVectorCache
from specimen_classify.adapters.scan_descriptor_repository import ScanVectorCache
from specimen_classify.api import (
    classification,
    exports,
    jobs,
    models,
    projects,
    scan_imports,
    scans,
    trainings,
)
from specimen_classify.config import ClassifySettings
from specimen_classify.domain.predictions import MRI_MODEL, PLANKTON_MODEL
from specimen_imaging.codecs import configure_decoder_limits
from specimen_imaging.objects import configure_object_limit
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker, ping
from specimen_kit.database_problems import install_database_problems
from specimen_kit.security import token_checks_ready
from specimen_kit.service import build_service_app
from specimen_kit.tokens import remote_token_verifier

JOB_QUEUE_TIMEOUT_SECONDS = 5.0
UPLOAD_ROUTES = (("POST", "/api/v1/projects/{id}/frames"), ("POST", "/api/v1/scans/imports"))
"""The bulk upload routes: bodies up to SPECIMEN_MAX_UPLOAD_BYTES, streamed to disk (the
gateway's table names the same paths)."""


@asynccontextmanager
async def _scan_storage(app: FastAPI, settings: ClassifySettings) -> AsyncIterator[None]:
    """The scans' engine, sessions and blob store for the app's lifetime, and their readiness.

    The schema is made by ``python -m specimen_classify migrate`` (a Job), not here.
    """
    engine = build_engine(settings.resolved_database_url,
                          pool_size=settings.resolved_database_pool_size,
                          pool_timeout=settings.database_pool_timeout_seconds)
    # Scans ask the users service whether a hospital an admin names exists (sync: the scan
    # handlers run in the threadpool).
    users = httpx.Client(base_url=settings.resolved_users_url,
                         timeout=settings.users_timeout_seconds)
    try:
        app.state.blob_store = await run_in_threadpool(FilesystemBlobStore, settings.resolved_blob_dir)
        app.state.sessionmaker = build_sessionmaker(engine)
        app.state.users_client = users
        # The last frames decoded for tiles (a viewer asks for many tiles of one frame).
        app.state.decoded_frames = DecodedFrames()
        # Projects' object descriptors between searches (reloaded when their rows change).
        app.state.object_vectors = ProjectVectorCache(settings.object_search_cache_vectors)
        # Hospitals' scan descriptors between searches (reloaded when their rows change).
        app.state.scan_vectors = ScanVectorCache(settings.scan_search_cache_vectors)

        async def database_ready() -> None:
            await run_in_threadpool(ping, engine)

        app.state.readiness_checks["database"] = database_ready
        # Runs and exports are queued on Redis (the workers run them); without it they answer 503.
        app.state.job_queue = (job_queue_of(settings, Redis.from_url(
            settings.redis_url, socket_timeout=JOB_QUEUE_TIMEOUT_SECONDS,
            socket_connect_timeout=JOB_QUEUE_TIMEOUT_SECONDS)) if settings.redis_url else None)
        yield
    finally:
        if getattr(app.state, "job_queue", None) is not None:
            app.state.job_queue.connection.close()
        await run_in_threadpool(users.close)
        engine.dispose()


def create_app(settings: ClassifySettings | None = None) -> FastAPI:
    """Build the classify service; ``uvicorn specimen_classify.app:create_app --factory``."""
    settings = settings or ClassifySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The models are trained by `python -m specimen_classify bootstrap-models` (make run, the
        # image build, a Job), never here: a replica only loads what the store holds.
        loaded = LoadedModels(
            ModelStore(settings.resolved_model_dir),
            {MRI_MODEL: LiteRtMriModel.load, PLANKTON_MODEL: OnnxPlanktonModel.load},
            refresh_seconds=settings.model_refresh_seconds,
        )
        for name in loaded.loaded_versions():
            await run_in_threadpool(loaded.refresh, name)
        app.state.models = loaded

        async def models_ready() -> None:
            for name in loaded.loaded_versions():
                # Raises ModelUnavailable until a version loads (and picks up a new one).
                await run_in_threadpool(loaded.get, name)

        app.state.readiness_checks["models"] = models_ready
        async with _scan_storage(app, settings), remote_token_verifier(settings) as verifier:
            app.state.token_verifier = verifier
            app.state.readiness_checks["token_revocations"] = token_checks_ready(app)
            yield

    configure_decoder_limits(settings.max_image_pixels)
    configure_object_limit(settings.max_objects)
    app = build_service_app(
        "classify", settings, lifespan, upload_routes=UPLOAD_ROUTES,
        title="Specimen classify",
        description="Tumor/healthy classification of brain MRI slices, plankton object "
        "categories, model versions and MRI scan records.",
    )
    install_database_problems(app)
    app.include_router(classification.router, prefix="/api/v1")
    app.include_router(trainings.router, prefix="/api/v1")
    app.include_router(models.router, prefix="/api/v1")
    app.include_router(scan_imports.router, prefix="/api/v1")
    app.include_router(scans.router, prefix="/api/v1")
    for router in projects.routers:
        app.include_router(router, prefix="/api/v1")
    app.include_router(jobs.projects_router, prefix="/api/v1")
    app.include_router(jobs.router, prefix="/api/v1")
    app.include_router(exports.router, prefix="/api/v1")
    return app
