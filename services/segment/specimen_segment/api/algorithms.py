"""``/segment``: the stateless algorithms, on an image sent with the request.

Handlers are plain ``def``: the OpenCV work runs in the threadpool (OpenCV releases the GIL;
an ``async def`` handler would block the event loop). Each one parses (dependencies), calls
:mod:`specimen_segment.operations`, and answers through
:func:`~specimen_segment.api.outputs.picture_response` (or the objects' own answers).
"""

from __future__ import annotations

import base64
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import Response

from specimen_imaging.thresholding import overlay_contours
from specimen_kit.security import current_principal
from specimen_segment.adapters.object_archive import bitmask_png, objects_zip
from specimen_segment.api.inputs import UploadedImage, UploadedMask, params_of, request_body_doc
from specimen_segment.api.outputs import (
    Output,
    base64_image,
    documented_responses,
    json_response,
    picture_response,
)
from specimen_segment.api.schemas import (
    BackgroundAnswer,
    ConvertAnswer,
    LabelEncoding,
    MeasuredObject,
    ObjectsAnswer,
    SelectionAnswer,
    SuperpixelsAnswer,
    ThresholdAnswer,
    VignettingAnswer,
)
from specimen_segment.domain.operation_params import (
    BackgroundOptions,
    ConvertOptions,
    ObjectOptions,
    SelectionRequest,
    SuperpixelRequest,
    ThresholdRequest,
    VignettingOptions,
)
from specimen_segment.operations import (
    IMAGE_FORMATS,
    LABEL_OUTSIDE,
    SIXTEEN_BIT_FORMATS,
    background_result,
    labels_uint16,
    object_crops,
    object_rows,
    objects_result,
    selection_result,
    selection_summary,
    superpixel_summary,
    superpixels_result,
    threshold_result,
    threshold_summary,
    vignetting_result,
)

router = APIRouter(prefix="/segment", tags=["segment"], dependencies=[Depends(current_principal)])

ThresholdParams = Annotated[ThresholdRequest, Depends(params_of(ThresholdRequest))]
SuperpixelParams = Annotated[SuperpixelRequest, Depends(params_of(SuperpixelRequest, with_mask=True))]
SelectionParams = Annotated[SelectionRequest, Depends(params_of(SelectionRequest, with_mask=True))]
ObjectParams = Annotated[ObjectOptions, Depends(params_of(ObjectOptions, with_mask=True))]
BackgroundParams = Annotated[BackgroundOptions, Depends(params_of(BackgroundOptions))]
VignettingParams = Annotated[VignettingOptions, Depends(params_of(VignettingOptions))]
ConvertParams = Annotated[ConvertOptions, Depends(params_of(ConvertOptions))]

PICTURE_OUTPUTS = (*IMAGE_FORMATS, "json")
LABEL_OUTPUTS = (*SIXTEEN_BIT_FORMATS, "json")
OBJECT_OUTPUTS = ("json", "zip", *IMAGE_FORMATS)


@router.post(
    "/threshold",
    response_class=Response,
    summary="Foreground mask by Otsu, quantile or fixed threshold; mask, overlay, cut-out or JSON",
    responses=documented_responses(PICTURE_OUTPUTS, ThresholdAnswer),
    openapi_extra=request_body_doc(ThresholdRequest, outputs=PICTURE_OUTPUTS),
)
def threshold(image: UploadedImage, params: ThresholdParams, output: Output) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    picture, found = threshold_result(image.pixels, params)
    return picture_response(fmt, picture, threshold_summary(found), f"threshold-{params.result}",
                            answer=ThresholdAnswer)


def _label_encoding(labels: np.ndarray, encoding: str) -> LabelEncoding:
    flat = labels.ravel()
    shape = (int(labels.shape[0]), int(labels.shape[1]))
    if encoding == "base64":
        return LabelEncoding(
            encoding="base64",
            shape=shape,
            data=base64.b64encode(flat.astype("<u2").tobytes()).decode("ascii"),
        )
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    lengths = np.diff(np.r_[starts, flat.size])
    return LabelEncoding(encoding="rle", shape=shape, values=flat[starts].tolist(), lengths=lengths.tolist())


@router.post(
    "/superpixels",
    response_class=Response,
    summary="SLIC superpixels: 16-bit label image, boundary overlay, or labels + centroids as JSON",
    responses=documented_responses(PICTURE_OUTPUTS, SuperpixelsAnswer),
    openapi_extra=request_body_doc(SuperpixelRequest, with_mask=True, outputs=PICTURE_OUTPUTS),
)
def superpixels(
    image: UploadedImage, params: SuperpixelParams, mask: UploadedMask, output: Output
) -> Response:
    fmt = output.choose(LABEL_OUTPUTS if params.result == "labels" else PICTURE_OUTPUTS, "png")
    picture, labels = superpixels_result(image.pixels, params, mask)
    facts = {} if fmt != "json" else {
        **superpixel_summary(labels), "outside_value": LABEL_OUTSIDE,
        "labels": _label_encoding(labels_uint16(labels), params.labels_encoding)}
    return picture_response(fmt, picture, facts, f"superpixels-{params.result}",
                            answer=SuperpixelsAnswer)


@router.post(
    "/superpixels/selection",
    response_class=Response,
    summary="The union of chosen superpixels cut out on white or transparent, or its mask",
    responses=documented_responses(PICTURE_OUTPUTS, SelectionAnswer),
    openapi_extra=request_body_doc(SelectionRequest, with_mask=True, outputs=PICTURE_OUTPUTS),
)
def superpixel_selection(
    image: UploadedImage, params: SelectionParams, mask: UploadedMask, output: Output
) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    picture, selected = selection_result(image.pixels, params, mask)
    facts = {} if fmt != "json" else {
        **selection_summary(params, selected),
        "mask": base64_image(selected.astype(np.uint8) * np.uint8(255))}
    return picture_response(fmt, picture, facts, f"selection-{params.result}",
                            answer=SelectionAnswer)


@router.post(
    "/objects",
    response_class=Response,
    summary="Connected objects with bbox, centroid and the versioned measurements; JSON, ZIP or overlay",
    responses=documented_responses(OBJECT_OUTPUTS, ObjectsAnswer),
    openapi_extra=request_body_doc(ObjectOptions, with_mask=True, outputs=OBJECT_OUTPUTS),
)
def objects(image: UploadedImage, params: ObjectParams, mask: UploadedMask, output: Output) -> Response:
    fmt = output.choose(OBJECT_OUTPUTS, "json")
    found, measured = objects_result(image.pixels, params, mask)
    if fmt in IMAGE_FORMATS:
        return picture_response(fmt, overlay_contours(image.pixels, found.labels > 0), {},
                                "objects-overlay")
    rows = object_rows(measured)
    wants_crops = fmt == "zip" or params.include_crops or params.include_masks
    crops = object_crops(image.pixels, found, params.padding, params.fade_background) if wants_crops else []
    if fmt == "zip":
        return Response(
            objects_zip(rows, crops, params.include_masks),
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="objects.zip"', "Vary": "Accept"},
        )
    listed = []
    for i, row in enumerate(rows):
        item = MeasuredObject(**row)
        if params.include_crops:
            item.crop = base64_image(crops[i][1])
        if params.include_masks:
            item.mask = base64.b64encode(bitmask_png(crops[i][2])).decode("ascii")
        listed.append(item)
    overlay = (
        base64_image(overlay_contours(image.pixels, found.labels > 0)) if params.include_overlay else None
    )
    return json_response(ObjectsAnswer(count=len(listed), objects=listed, overlay=overlay))


@router.post(
    "/background",
    response_class=Response,
    summary="Foreground cut out by GrabCut seeded from a threshold mask (RGBA PNG by default)",
    responses=documented_responses(PICTURE_OUTPUTS, BackgroundAnswer),
    openapi_extra=request_body_doc(BackgroundOptions, outputs=PICTURE_OUTPUTS),
)
def background(image: UploadedImage, params: BackgroundParams, output: Output) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    picture, fraction = background_result(image.pixels, params)
    return picture_response(fmt, picture, {"foreground_fraction": fraction}, "background-removed",
                            answer=BackgroundAnswer)


@router.post(
    "/vignetting",
    response_class=Response,
    summary="Flat-field correction: divide by a Gaussian-blurred background estimate",
    responses=documented_responses(PICTURE_OUTPUTS, VignettingAnswer),
    openapi_extra=request_body_doc(VignettingOptions, outputs=PICTURE_OUTPUTS),
)
def vignetting(image: UploadedImage, params: VignettingParams, output: Output) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    picture = vignetting_result(image.pixels, params)
    return picture_response(fmt, picture, {"sigma": params.sigma}, "flat-field",
                            answer=VignettingAnswer)


@router.post(
    "/convert",
    response_class=Response,
    summary="Convert between PNG, JPEG, GIF, TIFF, BMP and WebP (alpha onto white where needed)",
    responses=documented_responses(PICTURE_OUTPUTS, ConvertAnswer),
    openapi_extra=request_body_doc(ConvertOptions, outputs=PICTURE_OUTPUTS),
)
def convert(image: UploadedImage, params: ConvertParams, output: Output) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    facts = {"source_format": image.format, "source_mode": image.mode}
    return picture_response(fmt, image.pixels, facts, "converted", answer=ConvertAnswer,
                            quality=params.quality)
