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
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from specimen_kit.paging import DEFAULT_LIMIT, Limit, Offset
from specimen_kit.records import Content
from specimen_kit.uploads import decode_base64_image
from specimen_segment.api.deps import Library, Owner
from specimen_segment.api.library_schemas import (
    ImageFormat,
    ImagePage,
    ImagePublic,
    ImageRename,
    ImageUploadJson,
    SegmentationCreate,
    SegmentationPage,
    SegmentationPublic,
)
from specimen_segment.domain.library import (
    MEDIA_TYPES,
    InvalidUpload,
    UnsupportedUploadType,
)


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
_UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"},
                       "name": {"type": "string", "description": "Defaults to the file name."}}}},
    "application/json": {"schema": ImageUploadJson.model_json_schema()},
}}}


@dataclass(frozen=True)
class Upload:
    data: bytes
    name: str | None


async def _upload(request: Request) -> Upload:
    """The image and its name, from a multipart form or a JSON body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=4)
        file, name = form.get("file"), form.get("name")
        if not isinstance(file, UploadFile):
            raise InvalidUpload("the form has no file field named 'file'; send the image as "
                                "multipart/form-data with file=@image.png")
        filename = file.filename or None
        return Upload(await file.read(), name if isinstance(name, str) and name else filename)
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            body = ImageUploadJson.model_validate_json(await request.body())
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from error
        return Upload(decode_base64_image("image", body.image), body.name)
    raise UnsupportedUploadType(
        f"a {content_type or 'body without a Content-Type'} cannot carry an upload; send "
        "multipart/form-data (field 'file') or application/json ({\"image\": base64})")


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
             responses={**_STORE_RESPONSES, 415: _problem("Neither multipart nor JSON.")},
             summary="Upload an image (multipart 'file' + 'name', or JSON base64)")
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
