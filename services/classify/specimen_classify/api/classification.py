"""``/classify``: tumor/healthy for MRI slices and categories for plankton objects.

The image arrives as multipart, JSON base64 or raw bytes (:mod:`specimen_kit.uploads`);
decoding and inference are CPU work in sync dependencies and handlers, so they run in the
threadpool and the event loop stays free.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, Request
from pydantic import Field

from specimen_classify.adapters.model_metrics import count_predictions
from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.api.classification_schemas import (
    FeatureResult,
    FeatureRows,
    FeatureRowsAnswer,
    ItemProblem,
    MriAnswer,
    MriBatchAnswer,
    MriBatchItem,
    MriModelRef,
    PlanktonFrameAnswer,
    PlanktonModelRef,
    PlanktonObject,
    SegmentObject,
)
from specimen_classify.api.deps import ActiveMriModel, ActivePlanktonModel, Settings
from specimen_classify.config import ClassifySettings
from specimen_classify.domain.plankton.classify import (
    category_counts,
    classify_crop,
    classify_feature_rows,
    classify_frame,
)
from specimen_classify.domain.plankton.segmentation import PlanktonSegmentation
from specimen_classify.domain.predictions import (
    MRI_MODEL,
    PLANKTON_MODEL,
    MriModel,
    MriPrediction,
    classify_each,
    classify_slices,
)
from specimen_imaging.codecs import decode_image
from specimen_imaging.options import Params, validate_params
from specimen_kit.errors import InvalidParameter, Problem
from specimen_kit.openapi_problems import documented_problem
from specimen_kit.security import CurrentPrincipal
from specimen_kit.uploads import FileFields, Payload, read_payload, request_body_doc, require_file

router = APIRouter(prefix="/classify", tags=["classify"], responses={
    401: documented_problem("No valid bearer token."),
    413: documented_problem("The body or an image's pixel count is over the limit."),
    415: documented_problem("Not a supported image format or content type."),
    422: documented_problem("The image cannot be read, holds no brain (no-brain-found), or a "
                            "parameter (form, JSON or query) is unknown or out of range."),
    503: documented_problem("No model version is loaded yet (model-unavailable).", 503),
})

MRI_FILE = FileFields(single=("image",))
MRI_BATCH_FIELDS = ("image", "images")
"""The batch's slices: ``image`` repeated, as on every route taking several images (API.md);
``images``, its first name, still works."""
DEFAULT_BATCH_MAX: int = ClassifySettings.model_fields["mri_batch_max"].default


def _batch_files(max_files: int) -> FileFields:
    return FileFields(single=(), many=MRI_BATCH_FIELDS, max_files=max_files, raw="image")


async def _mri_payload(request: Request) -> Payload:
    return await read_payload(request, MRI_FILE)


def _mri_slice(payload: Annotated[Payload, Depends(_mri_payload)], settings: Settings) -> npt.NDArray[Any]:
    # The route takes no parameter: an unknown field is a 422, as on every other image route.
    validate_params(Params, payload.fields)
    return read_mri(require_file(payload, "image", MRI_FILE), max_pixels=settings.max_image_pixels)


MriSlice = Annotated[npt.NDArray[np.uint8], Depends(_mri_slice)]


async def _mri_batch_payload(request: Request, settings: Settings) -> Payload:
    spec = _batch_files(settings.mri_batch_max)
    payload = await read_payload(request, spec)
    # The route takes no parameter: an unknown field (form or query) is a 422, as on /mri.
    validate_params(Params, payload.fields)
    files = [file for name in MRI_BATCH_FIELDS for file in payload.files.get(name, ())]
    if not files:
        raise InvalidParameter(f"the request has no 'image'; {spec.how}")
    if len(files) > spec.max_files:
        raise InvalidParameter(f"the request holds {len(files)} images; send at most {spec.max_files}")
    return replace(payload, files={"image": files})


def _decoded_ordocumented_problem(data: bytes, max_pixels: int) -> npt.NDArray[Any] | Problem:
    try:
        return read_mri(data, max_pixels=max_pixels)
    except Problem as error:
        return error


@router.post("/mri", summary="Tumor or healthy for one brain MRI slice (PNG, JPEG, TIFF or DICOM)",
             openapi_extra=request_body_doc({}, MRI_FILE))
def classify_mri(pixels: MriSlice, model: ActiveMriModel, _: CurrentPrincipal) -> MriAnswer:
    (prediction,) = classify_slices([pixels], model)
    count_predictions(MRI_MODEL, [prediction.label])
    return MriAnswer.of(prediction)


@router.post("/mri/batch",
             summary="Tumor or healthy for several slices; an image that fails answers its problem",
             openapi_extra=request_body_doc({}, _batch_files(DEFAULT_BATCH_MAX)))
def classify_mri_batch(payload: Annotated[Payload, Depends(_mri_batch_payload)], model: ActiveMriModel,
                       settings: Settings, _: CurrentPrincipal) -> MriBatchAnswer:
    files = payload.files["image"]
    items = [_decoded_ordocumented_problem(f.data, settings.max_image_pixels) for f in files]
    results = classify_each(items, model)
    count_predictions(MRI_MODEL, [r.label for r in results if isinstance(r, MriPrediction)])
    return _batch_answer(model, [f.filename for f in files], results)


def _batch_answer(model: MriModel, filenames: list[str | None],
                  results: list[MriPrediction | Problem]) -> MriBatchAnswer:
    items = [MriBatchItem(index=i, filename=name,
                          prediction=MriAnswer.of(r) if isinstance(r, MriPrediction) else None,
                          problem=ItemProblem.of(r) if isinstance(r, Problem) else None)
             for i, (name, r) in enumerate(zip(filenames, results, strict=True))]
    return MriBatchAnswer(model=MriModelRef.of_model(model.version, model.training_data),
                          decision_threshold=float(model.decision_threshold),
                          classified=sum(item.prediction is not None for item in items), results=items)


PLANKTON_FILE = FileFields(single=("image",))


async def _plankton_payload(request: Request) -> Payload:
    return await read_payload(request, PLANKTON_FILE)


PlanktonPayload = Annotated[Payload, Depends(_plankton_payload)]


def _frame(payload: PlanktonPayload, settings: Settings) -> npt.NDArray[Any]:
    data = require_file(payload, "image", PLANKTON_FILE)
    return decode_image(data, max_pixels=settings.max_image_pixels).pixels


class PlanktonInput(PlanktonSegmentation):
    """The plankton route's fields: what the image is, and (for a frame) how it is cut."""

    input: Literal["frame", "crop"] = Field(
        "frame", description="frame: every object of a frame, cut with the fields below. crop: the image is "
        "one vignette (one organism, as EcoTaxa and the instruments store them), featurised as the trainer "
        "featurises its crops (bright-on-dark inverted, background levelled, scale bars and debris around "
        "it left out); the segmentation fields do not apply.")


def _segmentation(payload: PlanktonPayload) -> PlanktonInput:
    options = validate_params(PlanktonInput, payload.fields)
    extra = sorted(options.model_fields_set - {"input"})
    if options.input == "crop" and extra:
        raise InvalidParameter(f"input=crop takes no segmentation fields, got {', '.join(extra)}: a crop is "
                               "cut as the trainer cuts its crops; send input=frame to choose the "
                               "segmentation")
    return options


@router.post("/plankton",
             summary="Every object of a plankton frame, or the organism of one crop (input=crop): bbox, "
                     "features, category, all class scores",
             openapi_extra=request_body_doc(PlanktonInput.model_json_schema(), PLANKTON_FILE))
def classify_plankton(frame: Annotated[npt.NDArray[Any], Depends(_frame)],
                      options: Annotated[PlanktonInput, Depends(_segmentation)],
                      model: ActivePlanktonModel, _: CurrentPrincipal) -> PlanktonFrameAnswer:
    if options.input == "crop":
        found = classify_crop(frame, model)
    else:
        found = classify_frame(frame, model, PlanktonSegmentation(**options.model_dump(exclude={"input"})))
    categories = [o.category for o in found]
    count_predictions(PLANKTON_MODEL, categories)
    return PlanktonFrameAnswer(model=PlanktonModelRef.of_model(model), input=options.input,
                               count=len(found),
                               counts=category_counts(categories, model.classes),
                               feature_set_version=model.feature_set_version,
                               feature_names=list(model.feature_names),
                               objects=[PlanktonObject.of_object(o) for o in found])


@router.post("/plankton/features",
             summary="Categories for segment's /objects answer sent unchanged, or for bare feature rows",
             responses={422: documented_problem("A row or object is malformed or has a null feature, or the "
                                      "feature names or feature_set_version differ from the model's "
                                      "(feature-mismatch, naming both).")})
def classify_plankton_features(body: FeatureRows, model: ActivePlanktonModel, settings: Settings,
                               _: CurrentPrincipal) -> FeatureRowsAnswer:
    predictions = classify_feature_rows(body.feature_rows(), body.feature_names, body.feature_set_version,
                                        model, max_rows=settings.plankton_rows_max,
                                        row_labels=body.row_labels())
    categories = [p.category for p in predictions]
    count_predictions(PLANKTON_MODEL, categories)
    sent: list[SegmentObject | None] = [*body.objects] if body.objects else [None] * len(predictions)
    return FeatureRowsAnswer(model=PlanktonModelRef.of_model(model), count=len(predictions),
                             counts=category_counts(categories, model.classes),
                             results=[FeatureResult.of_row(i, p, o)
                                      for i, (p, o) in enumerate(zip(predictions, sent, strict=True))])
