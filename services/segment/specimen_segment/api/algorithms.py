"""``/segment``: the stateless algorithms, on an image sent with the request.

Handlers are plain ``def``: the OpenCV work runs in the threadpool (OpenCV releases the GIL;
an ``async def`` handler would block the event loop). Each one parses (dependencies), calls
:mod:`specimen_segment.operations`, and answers in the negotiated format.
"""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import Response

from specimen_imaging.codecs import encode_image
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION
from specimen_imaging.thresholding import overlay_contours
from specimen_kit.security import current_principal
from specimen_segment.api.inputs import UploadedImage, UploadedMask, params_of, request_body_doc
from specimen_segment.api.outputs import (
    IMAGE_FORMATS,
    SIXTEEN_BIT_FORMATS,
    Output,
    base64_image,
    bitmask_png,
    documented_responses,
    image_response,
    json_response,
)
from specimen_segment.api.schemas import (
    BackgroundOptions,
    ConvertOptions,
    ImageAnswer,
    LabelEncoding,
    MeasuredObject,
    ObjectOptions,
    ObjectsAnswer,
    SelectionRequest,
    SuperpixelRequest,
    SuperpixelsAnswer,
    ThresholdRequest,
    ThresholdSummary,
    VignettingOptions,
)
from specimen_segment.domain.superpixels import select_superpixels, slic_labels
from specimen_segment.operations import (
    LABEL_OUTSIDE,
    background_result,
    labels_uint16,
    object_crops,
    object_rows,
    objects_result,
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


def _image_answer(pixels: Any, metadata: dict[str, Any]) -> ImageAnswer:
    return ImageAnswer(
        media_type="image/png",
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        data=base64_image(pixels),
        metadata=metadata,
    )


@router.post(
    "/threshold",
    response_class=Response,
    summary="Foreground mask by Otsu, quantile or fixed threshold; mask, overlay, cut-out or JSON",
    responses=documented_responses(PICTURE_OUTPUTS, ThresholdSummary),
    openapi_extra=request_body_doc(ThresholdRequest, outputs=PICTURE_OUTPUTS),
)
def threshold(image: UploadedImage, params: ThresholdParams, output: Output) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    picture, found = threshold_result(image.pixels, params)
    if fmt == "json":
        return json_response(ThresholdSummary(**threshold_summary(found)))
    return image_response(picture, fmt, f"threshold-{params.result}")


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
    if fmt != "json":
        return image_response(picture, fmt, f"superpixels-{params.result}")
    summary = superpixel_summary(labels)
    if params.result == "overlay":
        return json_response(_image_answer(picture, summary))
    return json_response(
        SuperpixelsAnswer(
            segment_count=summary["segment_count"],
            outside_value=LABEL_OUTSIDE,
            labels=_label_encoding(labels_uint16(labels), params.labels_encoding),
            centroids=summary["centroids"],
        )
    )


@router.post(
    "/superpixels/selection",
    response_class=Response,
    summary="The union of chosen superpixels cut out on white or transparent, or its mask",
    responses=documented_responses(PICTURE_OUTPUTS, ImageAnswer),
    openapi_extra=request_body_doc(SelectionRequest, with_mask=True, outputs=PICTURE_OUTPUTS),
)
def superpixel_selection(
    image: UploadedImage, params: SelectionParams, mask: UploadedMask, output: Output
) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    labels = slic_labels(image.pixels, params.slic_params(mask))
    cut, selected = select_superpixels(image.pixels, labels, params.ids, params.background)
    picture = cut if params.result == "cutout" else selected.astype(np.uint8) * np.uint8(255)
    if fmt != "json":
        return image_response(picture, fmt, f"selection-{params.result}")
    return json_response(
        _image_answer(
            picture,
            {
                "ids": sorted(set(params.ids)),
                "pixel_count": int(selected.sum()),
                "mask": base64_image(selected.astype(np.uint8) * np.uint8(255)),
            },
        )
    )


def _objects_zip(rows: list[dict[str, Any]], crops: list[tuple[int, Any, Any]], with_masks: bool) -> bytes:
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(
        [
            "object_id",
            "crop",
            "bbox_min_row",
            "bbox_min_col",
            "bbox_max_row",
            "bbox_max_col",
            "centroid_row",
            "centroid_col",
            *FEATURE_NAMES,
        ]
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for row, (object_id, crop, crop_mask) in zip(rows, crops, strict=True):
            name = f"crops/object_{object_id:05d}.png"
            archive.writestr(name, encode_image(crop, "png"))
            if with_masks:
                archive.writestr(f"masks/object_{object_id:05d}.png", bitmask_png(crop_mask))
            box = row["bbox"]
            features = ["" if row["features"][n] is None else repr(row["features"][n]) for n in FEATURE_NAMES]
            writer.writerow(
                [
                    object_id,
                    name,
                    box["min_row"],
                    box["min_col"],
                    box["max_row"],
                    box["max_col"],
                    repr(row["centroid"][0]),
                    repr(row["centroid"][1]),
                    *features,
                ]
            )
        archive.writestr(zipfile.ZipInfo("objects.csv"), table.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(
            "feature_set.txt",
            f"feature_set_version={FEATURE_SET_VERSION}\n" + "\n".join(FEATURE_NAMES) + "\n",
        )
    return out.getvalue()


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
        return image_response(overlay_contours(image.pixels, found.labels > 0), fmt, "objects-overlay")
    rows = object_rows(measured)
    wants_crops = fmt == "zip" or params.include_crops or params.include_masks
    crops = object_crops(image.pixels, found, params.padding, params.fade_background) if wants_crops else []
    if fmt == "zip":
        return Response(
            _objects_zip(rows, crops, params.include_masks),
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
    responses=documented_responses(PICTURE_OUTPUTS, ImageAnswer),
    openapi_extra=request_body_doc(BackgroundOptions, outputs=PICTURE_OUTPUTS),
)
def background(image: UploadedImage, params: BackgroundParams, output: Output) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    picture, fraction = background_result(image.pixels, params)
    if fmt == "json":
        return json_response(_image_answer(picture, {"foreground_fraction": fraction}))
    return image_response(picture, fmt, "background-removed")


@router.post(
    "/vignetting",
    response_class=Response,
    summary="Flat-field correction: divide by a Gaussian-blurred background estimate",
    responses=documented_responses(PICTURE_OUTPUTS, ImageAnswer),
    openapi_extra=request_body_doc(VignettingOptions, outputs=PICTURE_OUTPUTS),
)
def vignetting(image: UploadedImage, params: VignettingParams, output: Output) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    picture = vignetting_result(image.pixels, params)
    if fmt == "json":
        return json_response(_image_answer(picture, {"sigma": params.sigma}))
    return image_response(picture, fmt, "flat-field")


@router.post(
    "/convert",
    response_class=Response,
    summary="Convert between PNG, JPEG, GIF, TIFF, BMP and WebP (alpha onto white where needed)",
    responses=documented_responses(PICTURE_OUTPUTS, ImageAnswer),
    openapi_extra=request_body_doc(ConvertOptions, outputs=PICTURE_OUTPUTS),
)
def convert(image: UploadedImage, params: ConvertParams, output: Output) -> Response:
    fmt = output.choose(PICTURE_OUTPUTS, "png")
    if fmt == "json":
        return json_response(
            _image_answer(image.pixels, {"source_format": image.format, "source_mode": image.mode})
        )
    return image_response(image.pixels, fmt, "converted")
