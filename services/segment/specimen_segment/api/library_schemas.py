"""Request and response bodies of the image library, apart from its tables and entities."""

from __future__ import annotations

import uuid
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from specimen_imaging.options import Params
from specimen_kit.records import Page
from specimen_kit.timestamps import Timestamp
from specimen_segment.domain.library import Quota, StoredImage, StoredSegmentation, Usage

ImageFormat = Literal["png", "jpeg", "gif", "tiff", "bmp", "webp"]
Operation = Literal["threshold", "superpixels", "selection", "objects", "background",
                    "vignetting", "convert"]
ImageSort = Literal["created_at", "-created_at", "name", "-name", "bytes", "-bytes"]
"""``field`` ascending or ``-field`` descending (domain: ``IMAGE_SORTS``)."""
API_PREFIX = "/api/v1"

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
    operation: Operation = Field(description="The /api/v1/segment route to run; `selection` is "
                                             "`superpixels/selection`.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The operation's parameters, named as on its /api/v1/segment route "
                    "(e.g. ``{\"method\": \"otsu\", \"opening_radius\": 2}``; `quality` for "
                    "`convert` to JPEG or WebP).")
    output: ImageFormat = Field(
        "png", description="The format the result picture is kept in; superpixel labels "
                           "(16-bit) only png or tiff. Other formats (and json) are served "
                           "from it by /content.")


class ImagePublic(BaseModel):
    id: uuid.UUID
    name: str
    format: ImageFormat
    width: int
    height: int
    channels: int
    bit_depth: int
    bytes: int = Field(description="Size of the original file as uploaded.")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, image: StoredImage) -> ImagePublic:
        return cls(id=image.id, name=image.name, format=image.format,
                   width=image.width, height=image.height, channels=image.channels,
                   bit_depth=image.bit_depth, bytes=image.bytes, created_at=image.created_at,
                   updated_at=image.updated_at)


class SegmentationSummary(BaseModel):
    """A kept result as listed: what made it and where its content is, without its facts."""

    id: uuid.UUID
    image_id: uuid.UUID
    operation: str
    params: dict[str, Any]
    output: ImageFormat = Field(description="The format the picture is kept in.")
    media_type: str
    bytes: int = Field(description="Size of the stored result picture.")
    created_at: Timestamp
    url: str = Field(description="This segmentation, with its facts (`summary`).")
    content_url: str = Field(description="Its picture; `?output=` another format or json.")

    @staticmethod
    def _fields(segmentation: StoredSegmentation) -> dict[str, Any]:
        url = (f"{API_PREFIX}/images/{segmentation.image_id}/segmentations/"
               f"{segmentation.id}")
        return dict(id=segmentation.id, image_id=segmentation.image_id,
                    operation=segmentation.operation, params=segmentation.params,
                    output=segmentation.format, media_type=segmentation.media_type,
                    bytes=segmentation.bytes, created_at=segmentation.created_at, url=url,
                    content_url=f"{url}/content")

    @classmethod
    def of(cls, segmentation: StoredSegmentation) -> SegmentationSummary:
        return cls(**cls._fields(segmentation))


class SegmentationPublic(SegmentationSummary):
    """A kept result with the facts its operation answered (the route's JSON, less the picture)."""

    summary: dict[str, Any]

    @classmethod
    def of(cls, segmentation: StoredSegmentation) -> SegmentationPublic:
        return cls(**cls._fields(segmentation), summary=segmentation.summary)


class Allowance(BaseModel):
    used: int
    limit: int = Field(description="The quota (SPECIMEN_SEGMENT_QUOTA_IMAGES / _BYTES).")


class UsagePublic(BaseModel):
    """What the caller keeps against their quota; bytes count originals plus results."""

    images: Allowance
    bytes: Allowance

    @classmethod
    def of(cls, usage: Usage, quota: Quota) -> UsagePublic:
        return cls(images=Allowance(used=usage.images, limit=quota.images),
                   bytes=Allowance(used=usage.bytes, limit=quota.bytes))


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


class SegmentationPage(_Page[SegmentationSummary]):
    @classmethod
    def of(cls, page: Page[StoredSegmentation]) -> SegmentationPage:
        return cls(items=[SegmentationSummary.of(item) for item in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)
