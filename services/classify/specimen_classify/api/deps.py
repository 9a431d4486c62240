"""Named dependencies of the classify routes: settings, the model store, the loaded models and
the scans' use-cases on the request's unit of work (:mod:`specimen_kit.storage`: a 2xx means
the scan is stored, a failure leaves no image behind)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

import numpy.typing as npt
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from specimen_classify.adapters.frame_images import DecodedFrames, inspect_frame
from specimen_classify.adapters.hospital_directory import UsersHospitalDirectory
from specimen_classify.adapters.model_registry import LoadedModels
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.adapters.object_descriptor_repository import SqlObjectDescriptorRepository
from specimen_classify.adapters.project_repository import SqlProjectRepository
from specimen_classify.adapters.scan_descriptor_repository import SqlScanDescriptorRepository
from specimen_classify.adapters.scan_repository import SqlScanRepository
from specimen_classify.adapters.user_names import UsersNameDirectory
from specimen_classify.config import ClassifySettings
from specimen_classify.domain.plankton.frame_import import ImportLimits
from specimen_classify.domain.plankton.object_search import MemberObjectSearch, ObjectSearch
from specimen_classify.domain.plankton.project_records import ProjectRecords
from specimen_classify.domain.predictions import MRI_MODEL, PLANKTON_MODEL, MriModel, PlanktonModel
from specimen_classify.domain.scan_search import ScanSearch
from specimen_classify.domain.scans import ScanRecords
from specimen_kit.storage import Blobs, DbSession
from specimen_kit.timestamps import utc_now


def _settings(request: Request) -> ClassifySettings:
    settings: ClassifySettings = request.app.state.settings
    return settings


Settings = Annotated[ClassifySettings, Depends(_settings)]


def _loaded_models(request: Request) -> LoadedModels:
    models: LoadedModels = request.app.state.models
    return models


Models = Annotated[LoadedModels, Depends(_loaded_models)]


def _model_store(models: Models) -> ModelStore:
    return models.store


Store = Annotated[ModelStore, Depends(_model_store)]


async def _active_mri_model(models: Models) -> MriModel:
    # Off the event loop: a refresh may read the store and load a new version.
    model: MriModel = await run_in_threadpool(models.get, MRI_MODEL)
    return model


ActiveMriModel = Annotated[MriModel, Depends(_active_mri_model)]


# --- scans: the use-cases on the request's unit of work (specimen_kit.storage) -------------


def _scan_service(request: Request, session: DbSession, blobs: Blobs,
                  settings: Settings) -> ScanRecords:
    hospitals = UsersHospitalDirectory(request.app.state.users_client,
                                       request.headers.get("authorization", ""))
    return ScanRecords(
        SqlScanRepository(session), blobs,
        read_image=partial(read_mri, max_pixels=settings.max_image_pixels), clock=utc_now,
        hospitals=hospitals, descriptors=SqlScanDescriptorRepository(session),
        notes_max_chars=settings.scan_notes_max_chars,
        patient_ref_max_chars=settings.scan_patient_ref_max_chars,
        export_max_rows=settings.scan_export_max_rows)


ScanService = Annotated[ScanRecords, Depends(_scan_service)]


def _scan_search(request: Request, session: DbSession, scans: ScanService,
                 settings: Settings) -> ScanSearch:
    return ScanSearch(scans, SqlScanDescriptorRepository(session), request.app.state.scan_vectors,
                      read_image=partial(read_mri, max_pixels=settings.max_image_pixels),
                      max_limit=settings.scan_search_max_limit)


ScanSearchService = Annotated[ScanSearch, Depends(_scan_search)]


async def _active_plankton_model(models: Models) -> PlanktonModel:
    model: PlanktonModel = await run_in_threadpool(models.get, PLANKTON_MODEL)
    return model


ActivePlanktonModel = Annotated[PlanktonModel, Depends(_active_plankton_model)]


# --- plankton projects: the use-cases on the request's unit of work -------------------------


def _project_service(request: Request, session: DbSession, blobs: Blobs,
                     settings: Settings) -> ProjectRecords:
    return ProjectRecords(
        SqlProjectRepository(session), blobs, clock=utc_now,
        inspect=partial(inspect_frame, max_pixels=settings.max_image_pixels),
        limits=import_limits(settings), max_review_ids=settings.review_max_ids,
        pixels_of=partial(_frame_pixels, request.app.state.decoded_frames,
                          max_pixels=settings.max_image_pixels),
        max_pixels=settings.max_image_pixels)


def _frame_pixels(cache: DecodedFrames, key: str, read: Callable[[], bytes], *,
                  max_pixels: int) -> npt.NDArray[Any]:
    return cache.pixels(key, read, max_pixels)


def import_limits(settings: ClassifySettings) -> ImportLimits:
    return ImportLimits(max_files=settings.frames_max_files,
                        max_members=settings.frames_zip_max_members,
                        max_total_bytes=settings.frames_zip_max_total_bytes,
                        max_member_bytes=settings.frames_zip_max_member_bytes,
                        max_ratio=settings.frames_zip_max_ratio,
                        max_metadata_bytes=settings.frames_metadata_max_bytes)


ProjectService = Annotated[ProjectRecords, Depends(_project_service)]


def _user_names(request: Request) -> UsersNameDirectory:
    return UsersNameDirectory(request.app.state.users_client,
                              request.headers.get("authorization", ""))


UserNames = Annotated[UsersNameDirectory, Depends(_user_names)]
"""The caller's name from the users service (``user <id>`` when it cannot answer)."""


def _object_search(request: Request, session: DbSession, projects: ProjectService) -> ObjectSearch:
    return ObjectSearch(projects, SqlProjectRepository(session), SqlObjectDescriptorRepository(session),
                        request.app.state.object_vectors)


ObjectSearchService = Annotated[ObjectSearch, Depends(_object_search)]


def _member_object_search(request: Request, session: DbSession, projects: ProjectService,
                          settings: Settings) -> MemberObjectSearch:
    return MemberObjectSearch(projects, SqlProjectRepository(session),
                              SqlObjectDescriptorRepository(session),
                              request.app.state.object_vectors,
                              max_limit=settings.object_search_max_limit)


MemberObjectSearchService = Annotated[MemberObjectSearch, Depends(_member_object_search)]
"""``POST /objects/search``: across the projects the caller belongs to."""
