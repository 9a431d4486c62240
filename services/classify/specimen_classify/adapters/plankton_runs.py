"""The ``plankton-run`` job kind: one task per frame, the same pipeline as ``/classify/plankton``.

Each task loads its frame's image from the blob store, decodes it as the route does
(:func:`specimen_imaging.codecs.decode_image`), cuts and classifies its objects with
:func:`~specimen_classify.domain.plankton.classify.classify_frame_objects` (the route's
:func:`~specimen_classify.domain.plankton.classify.classify_frame` is the same call), writes
each object's crop as a PNG blob and its mask as a PNG in its row, describes each object for the
similar-object search
(:func:`~specimen_classify.domain.plankton.object_similarity.describe_objects`: the frame's
pixels under its mask, so padding, fading and contours never move it) and swaps the frame's
objects for the new ones in one transaction (``replace_frame_objects``), so a retry or a
worker killed mid-frame leaves no duplicates. The run's settings
(:class:`~specimen_classify.domain.plankton.runs.RunSettings`) were validated and stored with
the job, the forest version resolved, when the run was created.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from specimen_classify.adapters.forest_runtime import OnnxPlanktonModel
from specimen_classify.adapters.jobs import JobRecord, TaskContext, TaskOutcome, TaskRecord, register_job_kind
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.project_repository import replace_frame_objects
from specimen_classify.adapters.tables import FrameRow
from specimen_classify.domain.plankton.classify import classify_frame_objects
from specimen_classify.domain.plankton.object_similarity import OBJECT_DESCRIPTOR_VERSION, describe_objects
from specimen_classify.domain.plankton.projects import NewObject
from specimen_classify.domain.plankton.runs import RunSettings, Vignette, cut_vignette, stored_run_settings
from specimen_classify.domain.predictions import PLANKTON_MODEL, ModelVersion
from specimen_imaging.codecs import decode_image, encode_image
from specimen_kit.blobs import BlobMissing, FilesystemBlobStore
from specimen_kit.errors import Problem


class FrameUnavailable(Problem):
    """A run's frame was deleted, or its image is missing from the blob store."""

    status = 422
    title = "Frame unavailable"
    slug = "frame-unavailable"


class PlanktonModels:
    """Plankton forest versions loaded once per process (the worker loads the active one before
    forking, so each work horse has it without reading the store)."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self._loaded: dict[int, OnnxPlanktonModel] = {}
        self._lock = threading.Lock()

    def get(self, version: int) -> OnnxPlanktonModel:
        """Version ``version``, loaded on first use (ModelNotFound / UnloadableModel otherwise)."""
        with self._lock:
            if version not in self._loaded:
                directory = self.store.version_dir(PLANKTON_MODEL, version)
                self._loaded[version] = OnnxPlanktonModel.load(
                    directory, ModelVersion(PLANKTON_MODEL, version))
            return self._loaded[version]

    def preload_active(self) -> int | None:
        """Load the active version now; its number (None when the store has none)."""
        version = self.store.active_version(PLANKTON_MODEL)
        if version is not None:
            self.get(version)
        return version

    def warm_up(self, version: int) -> None:
        """Run one small generated frame through a task's pipeline, results thrown away.

        The worker calls it before forking: the libraries' one-off set-up (OpenCV's Lab tables,
        the ONNX session's first run, lazy imports) then happens once in the parent instead of in
        every work horse, where it cost ~0.2 CPU s per frame, more than a small frame's own work
        (issue 12's worker figures).
        """
        from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame

        settings = RunSettings(model_version=version, fade_background=0.5, contours=True)
        pixels = plankton_frame((0, 0), dict.fromkeys(CATEGORIES, 1), 192, 192).image
        labelled, found = classify_frame_objects(pixels, self.get(version), settings.segmentation())
        vignettes = [cut_vignette(pixels, labelled.labels, item.object_id, item.bbox, settings)
                     for item in found]
        for vignette in vignettes:
            _png(vignette.crop)
            _png(vignette.mask.astype(np.uint8) * 255)
        # The descriptors' bases and tables too (loaded on first use: ~0.1 CPU s in a horse).
        object_descriptors(pixels, vignettes, bright_on_dark=False)


def _models(context: TaskContext) -> PlanktonModels:
    extras = context.resources.extras
    if "plankton_models" not in extras:
        extras["plankton_models"] = PlanktonModels(ModelStore(context.settings.resolved_model_dir))
    models: PlanktonModels = extras["plankton_models"]
    return models


def _blobs(context: TaskContext) -> FilesystemBlobStore:
    extras = context.resources.extras
    if "blobs" not in extras:
        extras["blobs"] = FilesystemBlobStore(context.settings.resolved_blob_dir)
    blobs: FilesystemBlobStore = extras["blobs"]
    return blobs


def _png(pixels: Any) -> bytes:
    return encode_image(pixels, "png")


def object_descriptors(pixels: Any, vignettes: list[Vignette], bright_on_dark: bool) -> list[Any]:
    """Each object's descriptor, all of a frame's at once; None for an object too small to
    describe (a 1-3 pixel speck is stored, and left out of the search)."""
    windows = []
    for vignette in vignettes:
        top, left = vignette.origin
        height, width = vignette.mask.shape
        windows.append((pixels[top:top + height, left:left + width], vignette.mask))
    return describe_objects(windows, bright_on_dark=bright_on_dark)


def run_frame(context: TaskContext, job: JobRecord, task: TaskRecord) -> TaskOutcome:
    """Cut, classify and store one frame's objects (a ``plankton-run`` task)."""
    settings = stored_run_settings(job.params)
    if task.frame_id is None or settings.model_version is None:
        raise FrameUnavailable(f"task {task.id} names no frame or its run no model version")
    with context.session() as session:
        frame = session.get(FrameRow, task.frame_id)
        image_key = frame.image_key if frame is not None else None
    if image_key is None:
        raise FrameUnavailable(f"frame {task.frame_id} was deleted")
    blobs = _blobs(context)
    try:
        data = blobs.get(image_key)
    except BlobMissing as error:
        raise FrameUnavailable(f"frame {task.frame_id}'s image is missing from the blob store") from error
    pixels = decode_image(data, max_pixels=context.settings.max_image_pixels).pixels
    model = _models(context).get(settings.model_version)
    context.checkpoint()
    labelled, found = classify_frame_objects(pixels, model, settings.segmentation())
    context.checkpoint()
    vignettes = [cut_vignette(pixels, labelled.labels, found_object.object_id, found_object.bbox, settings)
                 for found_object in found]
    descriptors = object_descriptors(pixels, vignettes, settings.polarity == "light-on-dark")
    context.checkpoint()
    new: list[NewObject] = []
    for rank, (found_object, vignette, descriptor) in enumerate(
            zip(found, vignettes, descriptors, strict=True), start=1):
        crop_key = blobs.put(_png(vignette.crop))
        new.append(NewObject(
            rank=rank, bbox=found_object.bbox, centroid=found_object.centroid,
            features=found_object.features, feature_set_version=model.feature_set_version,
            category=found_object.category, probability=found_object.probability,
            scores=found_object.scores, model_name=PLANKTON_MODEL, model_version=model.version.version,
            crop_key=crop_key, mask_png=_png(vignette.mask.astype(np.uint8) * 255),
            descriptor=descriptor,
            descriptor_version=OBJECT_DESCRIPTOR_VERSION))
    context.checkpoint()
    with context.session() as session:
        stored = replace_frame_objects(session, task.frame_id, job.id, new)
    return TaskOutcome(objects=stored)


register_job_kind("plankton-run", run_frame)
