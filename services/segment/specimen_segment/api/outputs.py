"""Output negotiation: the ``output`` parameter, else the ``Accept`` header, else the default.

``output`` names a format (``png``, ``jpeg``, ``gif``, ``webp``, ``tiff``, ``bmp``, ``json``,
``zip``) or its media type; one the route does not offer is a 422 naming the choices. Without
it, ``Accept`` is read with its q-values and the most specific matching range; when it admits
none of the route's formats the answer is a 406 problem.
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
from specimen_kit.errors import InvalidParameter, Problem
from specimen_segment.api.inputs import OUTPUT_FIELD, Payload
from specimen_segment.api.schemas import EncodedImage, PictureAnswer, StoredPictureAnswer

MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "json": "application/json",
    "zip": "application/zip",
}
_ALIASES = {"jpg": "jpeg", "tif": "tiff", "image/jpg": "jpeg", "image/tif": "tiff"}
_BY_MEDIA_TYPE = {media_type: name for name, media_type in MEDIA_TYPES.items()}


class NotAcceptable(Problem):
    """None of the route's formats is admitted by the ``Accept`` header (406)."""

    status = 406
    title = "Not acceptable"
    slug = "not-acceptable"


def _format_name(value: str) -> str | None:
    text = value.strip().lower()
    text = _ALIASES.get(text, text)
    if text in MEDIA_TYPES:
        return text
    return _BY_MEDIA_TYPE.get(text)


def _accept_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media_range = pieces[0].lower()
        if not media_range:
            continue
        q = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((media_range, q))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> float:
    """q of the most specific range that matches ``media_type`` (RFC 9110 §12.5.1)."""
    main = media_type.split("/")[0]
    best_specificity, best_q = -1, 0.0
    for media_range, q in ranges:
        if media_range == media_type:
            specificity = 2
        elif media_range == f"{main}/*":
            specificity = 1
        elif media_range == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, best_q = specificity, q
    return best_q


def negotiate(requested: str | None, accept: str | None, offered: Sequence[str], default: str) -> str:
    """The format to answer in, among ``offered`` (format names; ``default`` is one of them).

    Examples
    --------
    >>> negotiate(None, "image/webp, image/*;q=0.5", ("png", "webp", "json"), "png")
    'webp'
    >>> negotiate("jpg", None, ("png", "jpeg"), "png")
    'jpeg'
    """
    if requested is not None:
        name = _format_name(requested)
        if name is None or name not in offered:
            raise InvalidParameter(
                f"output={requested!r} is not offered here; use one of {', '.join(offered)}"
            )
        return name
    if not accept or not accept.strip():
        return default
    ranges = _accept_ranges(accept)
    candidates = [default, *(name for name in offered if name != default)]
    scored = [(_quality(MEDIA_TYPES[name], ranges), -i, name) for i, name in enumerate(candidates)]
    q, _, name = max(scored)
    if q <= 0:
        shown = ", ".join(MEDIA_TYPES[n] for n in offered)
        raise NotAcceptable(
            f"Accept: {accept} admits none of this route's formats: {shown}; or pass output=<format>"
        )
    return name


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


QUALITY_FORMATS = ("jpeg", "webp")


def check_quality(fmt: str, quality: int | None) -> None:
    """A quality goes with a lossy format only: with any other it would be silently unused."""
    if quality is not None and fmt not in QUALITY_FORMATS:
        raise InvalidParameter(f"quality applies to output jpeg or webp only, not {fmt}; "
                               "leave it out or choose one of those")


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
