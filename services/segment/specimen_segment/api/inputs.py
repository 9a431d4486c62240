"""The image input of the algorithm routes, as named dependencies.

One route accepts its image three ways: ``multipart/form-data`` with a file field ``image``
(parameters as further form fields), JSON ``{"image": "<base64 or data:image/...;base64,...>",
...parameters}``, or the raw image bytes with an ``image/*`` content type. Query-string
parameters apply to all three (body fields win). Reading the body is async; decoding runs in
a sync dependency, so FastAPI puts the CPU work in its threadpool and the event loop stays free.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import numpy as np
import numpy.typing as npt
from fastapi import Depends, Request
from starlette.datastructures import UploadFile

from specimen_kit.errors import Problem, UnreadableImage, UnsupportedFormat
from specimen_segment.adapters.codecs import DecodedImage, decode_image
from specimen_segment.api.schemas import Params, validate_params
from specimen_segment.config import SegmentSettings
from specimen_segment.domain.arrays import to_gray
from specimen_segment.domain.errors import InvalidParameter

IMAGE_FIELD = "image"
MASK_FIELD = "mask"
OUTPUT_FIELD = "output"
MAX_FORM_FIELDS = 100
_DATA_URL = re.compile(r"^data:(?P<type>[^;,]*)(?P<params>(;[^;,]*)*),", re.IGNORECASE)
_HOW = (
    'send multipart/form-data with a file field \'image\', JSON {"image": "<base64>"}, '
    "or the image bytes with an image/* content type"
)


class UnsupportedMediaType(Problem):
    """The request body is of a content type the route does not read (415)."""

    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


@dataclass(frozen=True)
class ImagePayload:
    """What the request carried: the image (and mask) bytes and the other named fields."""

    image: bytes | None
    mask: bytes | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def decode_base64_image(name: str, text: Any) -> bytes:
    """The bytes of field ``name``: plain (or URL-safe) base64, or an ``image/*`` data URL."""
    if not isinstance(text, str):
        raise InvalidParameter(f"{name} must be a base64 string or a data URL, got {type(text).__name__}")
    text = text.strip()
    found = _DATA_URL.match(text)
    if found:
        media_type = found.group("type").strip().lower() or "text/plain"
        if not media_type.startswith("image/"):
            raise UnsupportedFormat(f"{name} is a data URL of type {media_type}; send an image/* data URL")
        if "base64" not in found.group("params").lower():
            raise UnreadableImage(f"{name} is a data URL without ';base64'; encode the image in base64")
        text = text[found.end() :]
    elif text.startswith("data:"):
        raise UnreadableImage(f"{name} is a malformed data URL; use data:image/png;base64,<data>")
    text = re.sub(r"\s+", "", text)
    if not text:
        raise UnreadableImage(f"{name} is empty (0 bytes)")
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise UnreadableImage(f"{name} is not valid base64: {err}") from err


def _query_fields(request: Request) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        fields[key] = values if len(values) > 1 else values[0]
    return fields


async def _multipart(request: Request) -> ImagePayload:
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=2)
    files: dict[str, bytes] = {}
    fields = _query_fields(request)
    for key in form:
        values = form.getlist(key)
        if key in (IMAGE_FIELD, MASK_FIELD):
            value = values[0]
            files[key] = (await value.read() if isinstance(value, UploadFile)
                          else decode_base64_image(key, value))
            continue
        texts = [v for v in values if isinstance(v, str)]
        if len(texts) != len(values):
            raise InvalidParameter(f"{key} must be a form field, not a file")
        fields[key] = texts if len(texts) > 1 else texts[0]
    if IMAGE_FIELD not in files:
        raise UnreadableImage(f"the form has no field 'image'; {_HOW}")
    return ImagePayload(files[IMAGE_FIELD], files.get(MASK_FIELD), fields)


async def _json(request: Request) -> ImagePayload:
    raw = await request.body()
    if not raw.strip():
        raise UnreadableImage(f"the request body is empty; {_HOW}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidParameter(f"the request body is not valid JSON: {err}") from err
    if not isinstance(body, dict):
        raise InvalidParameter(
            f"the JSON body must be an object with an 'image' field, got {type(body).__name__}"
        )
    if IMAGE_FIELD not in body:
        raise UnreadableImage(f"the JSON body has no field 'image'; {_HOW}")
    image = decode_base64_image(IMAGE_FIELD, body.pop(IMAGE_FIELD))
    mask = decode_base64_image(MASK_FIELD, body.pop(MASK_FIELD)) if body.get(MASK_FIELD) is not None else None
    body.pop(MASK_FIELD, None)
    return ImagePayload(image, mask, {**_query_fields(request), **body})


async def read_payload(request: Request) -> ImagePayload:
    """The request's image bytes and fields, whichever of the three ways they came."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _multipart(request)
    if content_type == "application/json" or content_type.endswith("+json"):
        return await _json(request)
    if content_type.startswith("image/") or content_type in ("", "application/octet-stream"):
        raw = await request.body()
        if not raw:
            raise UnreadableImage(f"the request body is empty; {_HOW}")
        return ImagePayload(raw, None, _query_fields(request))
    raise UnsupportedMediaType(f"content type {content_type} is not read here; {_HOW}")


Payload = Annotated[ImagePayload, Depends(read_payload)]


def segment_settings(request: Request) -> SegmentSettings:
    settings: SegmentSettings = request.app.state.settings
    return settings


Settings = Annotated[SegmentSettings, Depends(segment_settings)]


def _decoded_image(payload: Payload, settings: Settings) -> DecodedImage:
    assert payload.image is not None
    return decode_image(payload.image, max_pixels=settings.max_image_pixels)


UploadedImage = Annotated[DecodedImage, Depends(_decoded_image)]
"""The decoded input image (checked against ``max_image_pixels`` from its header)."""


def _uploaded_mask(
    payload: Payload, image: UploadedImage, settings: Settings
) -> npt.NDArray[np.bool_] | None:
    if payload.mask is None:
        return None
    try:
        decoded = decode_image(payload.mask, max_pixels=settings.max_image_pixels)
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


def params_of(model: type[P], *, with_mask: bool = False) -> Callable[[ImagePayload], P]:
    """A dependency that validates the request's named fields as ``model`` (422 naming them)."""
    reserved = {OUTPUT_FIELD} | ({MASK_FIELD} if with_mask else set())

    def parse(payload: Payload) -> P:
        if payload.mask is not None and not with_mask:
            raise InvalidParameter("mask is not a parameter of this operation")
        return validate_params(model, {k: v for k, v in payload.fields.items() if k not in reserved})

    return parse


def request_body_doc(
    model: type[Params], *, with_mask: bool = False, outputs: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``openapi_extra`` describing the three ways to send the image and ``model``'s fields."""
    schema = model.model_json_schema()
    props = dict(schema.get("properties", {}))
    json_props: dict[str, Any] = {IMAGE_FIELD: {"type": "string", "description": "Base64 or data URL."}}
    form_props: dict[str, Any] = {IMAGE_FIELD: {"type": "string", "format": "binary"}}
    if with_mask:
        json_props[MASK_FIELD] = {"type": "string", "description": "Optional mask image, base64."}
        form_props[MASK_FIELD] = {"type": "string", "format": "binary"}
    output = (
        {
            "type": "string",
            "enum": list(outputs),
            "description": "Output format; overrides the Accept header.",
        }
        if outputs
        else None
    )
    extra = {OUTPUT_FIELD: output} if output else {}
    json_schema = {**schema, "properties": {**json_props, **props, **extra}, "required": [IMAGE_FIELD]}
    form_schema = {**schema, "properties": {**form_props, **props, **extra}, "required": [IMAGE_FIELD]}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_schema},
                "multipart/form-data": {"schema": form_schema},
                "image/*": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
