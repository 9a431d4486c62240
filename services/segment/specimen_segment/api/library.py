"""``/images``: each user's library of images and of the segmentations kept from them.

Owner-only: an image that is not the caller's answers 404, whatever the caller's role.
Handlers are sync: decoding, converting and segmenting are CPU-bound and run in the threadpool.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response, status

from specimen_imaging.options import validate_params
from specimen_kit.errors import InvalidParameter, UnreadableImage
from specimen_kit.paging import DEFAULT_LIMIT, Limit, Offset
from specimen_kit.records import Content
from specimen_kit.uploads import FileFields, read_payload, request_body_doc
from specimen_segment.api.deps import Library, Owner
from specimen_segment.api.library_schemas import (
    ImageFormat,
    ImagePage,
    ImagePublic,
    ImageRename,
    ImageUploadParams,
    SegmentationCreate,
    SegmentationPage,
    SegmentationPublic,
)
from specimen_segment.domain.library import MEDIA_TYPES


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

_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}
                      for media_type in MEDIA_TYPES.values()},
          "description": "The image file, with a Content-Disposition file name."}}

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


def _content_disposition(filename: str) -> str:
    # RFC 6266: an ASCII fallback for old clients, the exact UTF-8 name in filename*.
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    fallback = fallback.replace("\\", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _file(content: Content) -> Response:
    return Response(content.data, media_type=content.media_type,
                    headers={"Content-Disposition": _content_disposition(content.filename)})


@router.post("", response_model=ImagePublic, status_code=status.HTTP_201_CREATED,
             openapi_extra=_UPLOAD_BODY,
             responses={**_STORE_RESPONSES, 415: _problem("Not multipart, JSON or an image body.")},
             summary="Upload an image (multipart 'image' + 'name', JSON base64, or raw image/*)")
def upload_image(upload: Uploaded, owner: Owner, library: Library) -> ImagePublic:
    return ImagePublic.of(library.upload(owner, upload.data, upload.name))


@router.get("", response_model=ImagePage, summary="Your images, newest first")
def list_images(owner: Owner, library: Library, limit: Limit = DEFAULT_LIMIT,
                offset: Offset = 0) -> ImagePage:
    return ImagePage.of(library.list_images(owner, limit, offset))


@router.get("/{image_id}", response_model=ImagePublic, summary="One image's metadata")
def get_image(image_id: ImageId, owner: Owner, library: Library) -> ImagePublic:
    return ImagePublic.of(library.get_image(owner, image_id))


@router.get("/{image_id}/content", response_class=Response, responses=_IMAGE_RESPONSES,
            summary="Download the image: the original, or converted to ?format=")
def get_image_content(image_id: ImageId, owner: Owner, library: Library,
                      format: ImageFormat | None = None) -> Response:
    return _file(library.image_content(owner, image_id, format))


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
             summary="Run an operation on the image and keep its result")
def create_segmentation(image_id: ImageId, body: SegmentationCreate, owner: Owner,
                        library: Library) -> SegmentationPublic:
    return SegmentationPublic.of(library.segment(owner, image_id, body.operation, body.params))


@router.get("/{image_id}/segmentations", response_model=SegmentationPage,
            summary="The image's kept segmentations, newest first")
def list_segmentations(image_id: ImageId, owner: Owner, library: Library, limit: Limit = DEFAULT_LIMIT,
                       offset: Offset = 0) -> SegmentationPage:
    return SegmentationPage.of(library.list_segmentations(owner, image_id, limit, offset))


@router.get("/{image_id}/segmentations/{segmentation_id}", response_model=SegmentationPublic,
            summary="One kept segmentation's metadata and summary")
def get_segmentation(image_id: ImageId, segmentation_id: uuid.UUID, owner: Owner,
                     library: Library) -> SegmentationPublic:
    return SegmentationPublic.of(library.get_segmentation(owner, image_id, segmentation_id))


@router.get("/{image_id}/segmentations/{segmentation_id}/content", response_class=Response,
            responses=_IMAGE_RESPONSES, summary="Download a kept segmentation's result image")
def get_segmentation_content(image_id: ImageId, segmentation_id: uuid.UUID, owner: Owner,
                             library: Library) -> Response:
    return _file(library.segmentation_content(owner, image_id, segmentation_id))
