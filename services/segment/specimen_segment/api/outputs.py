"""How a segment route answers: the caller's ``output``/``Accept`` wishes, read from the payload,
and the one picture-or-JSON response. The choice itself is :mod:`specimen_kit.negotiation`.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy.typing as npt
from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from specimen_imaging.codecs import encode_image
from specimen_kit.errors import InvalidParameter
from specimen_kit.negotiation import MEDIA_TYPES, check_quality, negotiate
from specimen_segment.api.inputs import OUTPUT_FIELD, Payload
from specimen_segment.api.schemas import EncodedImage, PictureAnswer, StoredPictureAnswer


@dataclass(frozen=True)
class OutputRequest:
    """The caller's wishes: the ``output`` field, if any, and the ``Accept`` header."""

    requested: str | None
    accept: str | None

    def choose(self, offered: Sequence[str], default: str) -> str:
        return negotiate(self.requested, self.accept, offered, default)


def _output_request(request: Request, payload: Payload) -> OutputRequest:
    requested = payload.fields.get(OUTPUT_FIELD)
    if requested is not None and not isinstance(requested, str):
        raise InvalidParameter(f"output={requested!r} must be a string such as 'png' or 'json'")
    return OutputRequest(requested, request.headers.get("accept"))


Output = Annotated[OutputRequest, Depends(_output_request)]


# Answers ----------------------------------------------------------------------------------


def image_response(pixels: npt.NDArray[Any], fmt: str, name: str,
                   quality: int | None = None) -> Response:
    """The picture encoded as ``fmt``, served inline as ``name.<fmt>``."""
    return Response(
        encode_image(pixels, fmt, quality),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'inline; filename="{name}.{fmt}"', "Vary": "Accept"},
    )


def json_response(model: BaseModel) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), headers={"Vary": "Accept"})


def base64_image(pixels: npt.NDArray[Any], fmt: str = "png") -> str:
    return base64.b64encode(encode_image(pixels, fmt)).decode("ascii")


def encoded_image(pixels: npt.NDArray[Any]) -> EncodedImage:
    """``pixels`` as a PNG in a JSON answer (PNG keeps 16-bit labels and alpha exact)."""
    return EncodedImage(media_type=MEDIA_TYPES["png"], width=int(pixels.shape[1]),
                        height=int(pixels.shape[0]), data=base64_image(pixels))


def picture_response(fmt: str, picture: npt.NDArray[Any], facts: Mapping[str, Any], stem: str,
                     *, answer: type[PictureAnswer] = StoredPictureAnswer,
                     quality: int | None = None) -> Response:
    """The one way a picture route answers: the picture as ``fmt``, or JSON.

    JSON is ``answer``: ``{"image": {media_type, width, height, data}, **facts}`` (API.md,
    *Choosing the answer's format*); a picture format is served inline as ``stem.<fmt>``.
    """
    check_quality(fmt, quality)
    if fmt == "json":
        return json_response(answer(image=encoded_image(picture), **facts))
    return image_response(picture, fmt, stem, quality)


def documented_responses(offered: Sequence[str], json_model: type[BaseModel] | None) -> dict[int | str, Any]:
    """``responses`` for the OpenAPI document: every offered media type of the 200 answer."""
    content: dict[str, Any] = {}
    for name in offered:
        if name == "json":
            content[MEDIA_TYPES[name]] = {}
        else:
            content[MEDIA_TYPES[name]] = {"schema": {"type": "string", "format": "binary"}}
    responses: dict[int | str, Any] = {
        200: {"description": "The result, in the negotiated format.", "content": content}
    }
    if json_model is not None:
        responses[200]["model"] = json_model
    for status, what in (
        (401, "No or invalid bearer token"),
        (406, "No acceptable format"),
        (413, "Image or body too large"),
        (415, "Unsupported image or body type"),
        (422, "A parameter or output the route cannot accept, or an unreadable image"),
    ):
        responses[status] = {
            "description": what,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return responses
