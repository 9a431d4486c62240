"""Request and response bodies of the image library, apart from its tables and entities."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from specimen_imaging.options import Params
from specimen_kit.records import Page
from specimen_segment.domain.library import StoredImage, StoredSegmentation

ImageFormat = Literal["png", "jpeg", "gif", "tiff", "bmp", "webp"]
Operation = Literal["threshold", "superpixels", "objects", "background", "vignetting"]

# Name rules (length, control characters) are the domain's, with messages that say the fix; the
# loose cap here only keeps absurd bodies out.
_MAX_NAME_FIELD = 1024

T = TypeVar("T")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageUploadParams(Params):
    """An upload's fields besides the image (form fields, JSON fields or the query string)."""

    name: str | None = Field(default=None, max_length=_MAX_NAME_FIELD,
                             description="Defaults to the file's name, else a generated one.")


class ImageRename(_Request):
    name: str = Field(max_length=_MAX_NAME_FIELD, examples=["plankton frame 12"])


class SegmentationCreate(_Request):
    operation: Operation
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The operation's parameters, named as on its /api/v1/segment route "
                    "(e.g. ``{\"method\": \"otsu\", \"opening_radius\": 2}``).")


class ImagePublic(BaseModel):
    id: uuid.UUID
    name: str
    format: ImageFormat
    width: int
    height: int
    channels: int
    bit_depth: int
    bytes: int = Field(description="Size of the original file as uploaded.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, image: StoredImage) -> ImagePublic:
        return cls(id=image.id, name=image.name, format=image.format,
                   width=image.width, height=image.height, channels=image.channels,
                   bit_depth=image.bit_depth, bytes=image.bytes, created_at=image.created_at,
                   updated_at=image.updated_at)


class SegmentationPublic(BaseModel):
    id: uuid.UUID
    image_id: uuid.UUID
    operation: str
    params: dict[str, Any]
    summary: dict[str, Any]
    media_type: str
    bytes: int = Field(description="Size of the stored result image.")
    created_at: datetime

    @classmethod
    def of(cls, segmentation: StoredSegmentation) -> SegmentationPublic:
        return cls(id=segmentation.id, image_id=segmentation.image_id,
                   operation=segmentation.operation, params=segmentation.params,
                   summary=segmentation.summary, media_type=segmentation.media_type,
                   bytes=segmentation.bytes, created_at=segmentation.created_at)


class _Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ImagePage(_Page[ImagePublic]):
    @classmethod
    def of(cls, page: Page[StoredImage]) -> ImagePage:
        return cls(items=[ImagePublic.of(image) for image in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)


class SegmentationPage(_Page[SegmentationPublic]):
    @classmethod
    def of(cls, page: Page[StoredSegmentation]) -> SegmentationPage:
        return cls(items=[SegmentationPublic.of(item) for item in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)
