"""The image input of the algorithm routes, as named dependencies.

One route accepts its image three ways: ``multipart/form-data`` with a file field ``image``
(parameters as further form fields), JSON ``{"image": "<base64 or data:image/...;base64,...>",
...parameters}``, or the raw image bytes with an ``image/*`` content type. Query-string
parameters apply to all three (body fields win). Reading the body is async; decoding runs in
a sync dependency, so FastAPI puts the CPU work in its threadpool and the event loop stays free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import numpy as np
import numpy.typing as npt
from fastapi import Depends, Request

from specimen_imaging.arrays import to_gray
from specimen_imaging.codecs import DecodedImage, decode_image
from specimen_imaging.options import Params, validate_params
from specimen_kit import uploads
from specimen_kit.errors import InvalidParameter, UnreadableImage, UnsupportedFormat
from specimen_segment.config import SegmentSettings

IMAGE_FIELD = "image"
MASK_FIELD = "mask"
OUTPUT_FIELD = "output"
FILES = uploads.FileFields(single=(IMAGE_FIELD, MASK_FIELD), raw=IMAGE_FIELD)
"""The files an algorithm route reads: the image and an optional mask."""


async def read_payload(request: Request) -> uploads.Payload:
    """The request's image (and mask) bytes and fields, whichever of the three ways they came."""
    return await uploads.read_payload(request, FILES)


Payload = Annotated[uploads.Payload, Depends(read_payload)]


def segment_settings(request: Request) -> SegmentSettings:
    settings: SegmentSettings = request.app.state.settings
    return settings


Settings = Annotated[SegmentSettings, Depends(segment_settings)]


def _decoded_image(payload: Payload, settings: Settings) -> DecodedImage:
    data = uploads.require_file(payload, IMAGE_FIELD, FILES)
    return decode_image(data, max_pixels=settings.max_image_pixels)


UploadedImage = Annotated[DecodedImage, Depends(_decoded_image)]
"""The decoded input image (checked against ``max_image_pixels`` from its header)."""


def _uploaded_mask(
    payload: Payload, image: UploadedImage, settings: Settings
) -> npt.NDArray[np.bool_] | None:
    mask_bytes = payload.first(MASK_FIELD)
    if mask_bytes is None:
        return None
    try:
        decoded = decode_image(mask_bytes, max_pixels=settings.max_image_pixels)
    except (UnreadableImage, UnsupportedFormat) as err:
        raise type(err)(f"mask: {err.detail}") from err
    if decoded.pixels.shape[:2] != image.pixels.shape[:2]:
        raise InvalidParameter(
            f"mask is {decoded.pixels.shape[1]}x{decoded.pixels.shape[0]} pixels; it must match the "
            f"image's {image.pixels.shape[1]}x{image.pixels.shape[0]}"
        )
    gray = to_gray(decoded.pixels)
    mask: npt.NDArray[np.bool_] = gray > np.iinfo(gray.dtype).max // 2
    return mask


UploadedMask = Annotated[npt.NDArray[np.bool_] | None, Depends(_uploaded_mask)]
"""An optional mask image (field ``mask``): pixels brighter than half-scale are inside."""

P = TypeVar("P", bound=Params)


def params_of(model: type[P], *, with_mask: bool = False) -> Callable[[uploads.Payload], P]:
    """A dependency that validates the request's named fields as ``model`` (422 naming them)."""
    reserved = {OUTPUT_FIELD} | ({MASK_FIELD} if with_mask else set())

    def parse(payload: Payload) -> P:
        if payload.first(MASK_FIELD) is not None and not with_mask:
            raise InvalidParameter("mask is not a parameter of this operation")
        return validate_params(model, {k: v for k, v in payload.fields.items() if k not in reserved})

    return parse


def request_body_doc(
    model: type[Params], *, with_mask: bool = False, outputs: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``openapi_extra`` describing the three ways to send the image and ``model``'s fields."""
    schema = model.model_json_schema()
    if outputs:
        output = {"type": "string", "enum": list(outputs),
                  "description": "Output format; overrides the Accept header."}
        schema = {**schema, "properties": {**schema.get("properties", {}), OUTPUT_FIELD: output}}
    files = FILES if with_mask else uploads.FileFields(single=(IMAGE_FIELD,), raw=IMAGE_FIELD)
    return uploads.request_body_doc(schema, files)
