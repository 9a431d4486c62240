"""``/images``: each user's library of images and of the segmentations kept from them.

Owner-only: an image that is not the caller's answers 404, whatever the caller's role.
Handlers are sync: decoding, converting and segmenting are CPU-bound and run in the threadpool.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

from specimen_imaging.options import validate_params
from specimen_kit.downloads import file_response
from specimen_kit.errors import InvalidParameter, UnreadableImage
from specimen_kit.negotiation import (
    MEDIA_TYPES,
    AcceptHeader,
    Quality,
    check_quality,
    negotiate,
    output_query,
)
from specimen_kit.paging import DEFAULT_LIMIT, Limit, Offset
from specimen_kit.records import Content
from specimen_kit.uploads import FileFields, read_payload, request_body_doc
from specimen_segment.api.deps import Library, Owner
from specimen_segment.api.library_schemas import (
    ImagePage,
    ImagePublic,
    ImageRename,
    ImageSort,
    ImageUploadParams,
    SegmentationCreate,
    SegmentationPage,
    SegmentationPublic,
    UsagePublic,
)
from specimen_segment.api.outputs import json_response
from specimen_segment.api.schemas import EncodedImage, StoredPictureAnswer
from specimen_segment.domain.library import (
    MAX_THUMBNAIL_SIDE,
    MIN_THUMBNAIL_SIDE,
    THUMBNAIL_SIDE,
    ImageQuery,
)
from specimen_segment.operations import IMAGE_FORMATS


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


router = APIRouter(prefix="/images", tags=["image library"], responses={
    401: _problem("No valid bearer token."),
    404: _problem("No such image (or segmentation) in your library; others' look the same."),
})
_STORE_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _problem("Keeping this would exceed your quota of images or bytes (quota-exceeded)."),
    413: _problem("The body or the image's pixel count is over the limit."),
    422: _problem("The image cannot be read, or a name or parameter is invalid."),
}

_CONTENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {**{MEDIA_TYPES[f]: {"schema": {"type": "string", "format": "binary"}}
                         for f in IMAGE_FORMATS},
                      "application/json": {}},
          "model": StoredPictureAnswer,
          "description": "The picture as kept, converted to `output` (or the Accept header's "
                         "choice), or JSON `{image: {media_type, width, height, data}, ...facts}`."},
    406: _problem("The Accept header admits none of the formats this picture is served in."),
    422: _problem("An `output` this picture cannot be served in (the choices are named), or a "
                  "`quality` outside 1-100 or with a format other than jpeg or webp."),
}

Output = Annotated[str | None, output_query(
    [*IMAGE_FORMATS, "json"],
    "The answer's format: png, jpeg, gif, webp, tiff, bmp or json; overrides Accept. Without "
    "either, the picture as kept. A result is offered in fewer (superpixel labels: png, tiff, "
    "json); another is a 422 naming the choices.")]

UPLOAD_FILES = FileFields(single=("image", "file"), raw="image")
"""An upload's file: field ``image`` as on every image route (``file``, its older name, too)."""
_UPLOAD_BODY = request_body_doc(ImageUploadParams.model_json_schema(), UPLOAD_FILES)


@dataclass(frozen=True)
class Upload:
    data: bytes
    name: str | None


async def _upload(request: Request) -> Upload:
    """The image and its name, sent the three ways every image route reads (kit uploads).

    Any other field, in the body or the query string, is a 422 naming it.
    """
    payload = await read_payload(request, UPLOAD_FILES)
    if payload.first("image") is not None and payload.first("file") is not None:
        raise InvalidParameter("send the image once, in the field 'image' ('file' is its older name)")
    files = payload.files.get("image") or payload.files.get("file") or []
    if not files:
        raise UnreadableImage(f"the request has no field 'image'; {UPLOAD_FILES.how}")
    params = validate_params(ImageUploadParams, payload.fields)
    return Upload(files[0].data, params.name or files[0].filename)


Uploaded = Annotated[Upload, Depends(_upload)]
ImageId = uuid.UUID


def _picture_json(content: Content, width: int, height: int, facts: dict[str, Any]) -> JSONResponse:
    """A kept picture in the JSON layout of the picture routes (API.md), as it is stored."""
    image = EncodedImage(media_type=content.media_type, width=width, height=height,
                         data=base64.b64encode(content.data).decode("ascii"))
    return json_response(StoredPictureAnswer(image=image, **facts))


@router.post("", response_model=ImagePublic, status_code=status.HTTP_201_CREATED,
             openapi_extra=_UPLOAD_BODY,
             responses={**_STORE_RESPONSES, 415: _problem("Not multipart, JSON or an image body.")},
             summary="Upload an image: multipart `image` (`file` is an alias) + `name`, JSON "
                     "`{image: base64 or data URL, name}`, or raw image/* (`?name=`)")
def upload_image(upload: Uploaded, owner: Owner, library: Library) -> ImagePublic:
    return ImagePublic.of(library.upload(owner, upload.data, upload.name))


@router.get("", response_model=ImagePage, summary="Your images: sorted, searched by name, paged")
def list_images(
    owner: Owner, library: Library, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0,
    sort: Annotated[ImageSort, Query(description=(
        "`field` ascending or `-field` descending: created_at, name (ignoring case), bytes."
    ))] = "-created_at",
    q: Annotated[str | None, Query(min_length=1, max_length=200, description=(
        "Only images whose name contains this, ignoring case."))] = None,
) -> ImagePage:
    query = ImageQuery(sort=sort, name_contains=q, limit=limit, offset=offset)
    return ImagePage.of(library.list_images(owner, query))


@router.get("/usage", response_model=UsagePublic,
            summary="Images and bytes (originals plus results) you keep, against your quota")
def get_usage(owner: Owner, library: Library) -> UsagePublic:
    return UsagePublic.of(*library.usage(owner))


@router.get("/{image_id}", response_model=ImagePublic, summary="One image's metadata")
def get_image(image_id: ImageId, owner: Owner, library: Library) -> ImagePublic:
    return ImagePublic.of(library.get_image(owner, image_id))


@router.get("/{image_id}/content", response_class=Response, responses=_CONTENT_RESPONSES,
            summary="Download the image as uploaded, or converted to `output` (or Accept)")
def get_image_content(image_id: ImageId, owner: Owner, library: Library, output: Output = None,
                      quality: Quality = None, accept: AcceptHeader = None) -> Response:
    image = library.get_image(owner, image_id)
    offered = (image.format, *(f for f in IMAGE_FORMATS if f != image.format), "json")
    fmt = negotiate(output, accept, offered, image.format)
    check_quality(fmt, quality)
    if fmt == "json":
        facts = {"id": str(image.id), "name": image.name}
        return _picture_json(library.image_content(image), image.width, image.height, facts)
    return file_response(library.image_content(image, fmt, quality), negotiated=True)


Size = Annotated[int, Query(ge=MIN_THUMBNAIL_SIDE, le=MAX_THUMBNAIL_SIDE,
                            description="The thumbnail's longer side in pixels.")]
_THUMBNAIL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "description": "A PNG no larger than `size` on its longer side."},
    422: _problem("A `size` out of range."),
}


@router.get("/{image_id}/thumbnail.png", response_class=Response, responses=_THUMBNAIL_RESPONSES,
            summary="A small PNG of the image (search results link it)")
def get_image_thumbnail(image_id: ImageId, owner: Owner, library: Library,
                        size: Size = THUMBNAIL_SIDE) -> Response:
    return file_response(library.thumbnail(owner, image_id, size=size))


@router.get("/{image_id}/segmentations/{segmentation_id}/thumbnail.png", response_class=Response,
            responses=_THUMBNAIL_RESPONSES, summary="A small PNG of a kept result")
def get_segmentation_thumbnail(image_id: ImageId, segmentation_id: uuid.UUID, owner: Owner,
                               library: Library, size: Size = THUMBNAIL_SIDE) -> Response:
    return file_response(library.thumbnail(owner, image_id, segmentation_id, size))


@router.patch("/{image_id}", response_model=ImagePublic, summary="Rename an image")
def rename_image(image_id: ImageId, body: ImageRename, owner: Owner,
                 library: Library) -> ImagePublic:
    return ImagePublic.of(library.rename(owner, image_id, body.name))


@router.delete("/{image_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete an image with all its segmentations")
def delete_image(image_id: ImageId, owner: Owner, library: Library) -> None:
    library.delete(owner, image_id)


@router.post("/{image_id}/segmentations", response_model=SegmentationPublic,
             status_code=status.HTTP_201_CREATED, responses=_STORE_RESPONSES,
             summary="Run an operation on the image and keep its result in `output`")
def create_segmentation(image_id: ImageId, body: SegmentationCreate, owner: Owner,
                        library: Library) -> SegmentationPublic:
    return SegmentationPublic.of(
        library.segment(owner, image_id, body.operation, body.params, body.output))


@router.get("/{image_id}/segmentations", response_model=SegmentationPage,
            summary="The image's kept segmentations, newest first (without their facts)")
def list_segmentations(image_id: ImageId, owner: Owner, library: Library, limit: Limit = DEFAULT_LIMIT,
                       offset: Offset = 0) -> SegmentationPage:
    return SegmentationPage.of(library.list_segmentations(owner, image_id, limit, offset))


@router.get("/{image_id}/segmentations/{segmentation_id}", response_model=SegmentationPublic,
            summary="One kept segmentation: how it was made, its facts, its content link")
def get_segmentation(image_id: ImageId, segmentation_id: uuid.UUID, owner: Owner,
                     library: Library) -> SegmentationPublic:
    return SegmentationPublic.of(library.get_segmentation(owner, image_id, segmentation_id))


@router.delete("/{image_id}/segmentations/{segmentation_id}",
               status_code=status.HTTP_204_NO_CONTENT, summary="Delete one kept segmentation")
def delete_segmentation(image_id: ImageId, segmentation_id: uuid.UUID, owner: Owner,
                        library: Library) -> None:
    library.delete_segmentation(owner, image_id, segmentation_id)


@router.get("/{image_id}/segmentations/{segmentation_id}/content", response_class=Response,
            responses=_CONTENT_RESPONSES,
            summary="Download a kept result: as kept, converted to `output` (or Accept), or JSON")
def get_segmentation_content(image_id: ImageId, segmentation_id: uuid.UUID, owner: Owner,
                             library: Library, output: Output = None, quality: Quality = None,
                             accept: AcceptHeader = None) -> Response:
    image = library.get_image(owner, image_id)
    kept = library.get_segmentation(owner, image_id, segmentation_id)
    fmt = negotiate(output, accept, (*library.segmentation_formats(kept), "json"), kept.format)
    check_quality(fmt, quality)
    if fmt == "json":
        stored = library.segmentation_content(owner, image_id, segmentation_id)
        return _picture_json(stored, image.width, image.height, kept.summary)
    return file_response(library.segmentation_content(owner, image_id, segmentation_id, fmt, quality))
