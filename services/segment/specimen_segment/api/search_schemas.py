"""Request fields and answer of ``POST /images/search``."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field, field_validator

from specimen_kit.timestamps import Timestamp
from specimen_segment.api.library_schemas import API_PREFIX
from specimen_segment.domain.library import MEDIA_TYPES
from specimen_segment.domain.operation_params import MAX_SEGMENTS, SuperpixelOptions
from specimen_segment.domain.similarity import Hit, SearchAnswer

SUPERPIXEL_FIELDS = ("n_segments", "compactness", "sigma", "iterations")


class SearchParams(SuperpixelOptions):
    """The query's fields besides the files ``image`` and ``mask``.

    The query is one of: an uploaded ``image`` (optionally with a ``mask`` of the region to
    search by); a library ``image_id``; a selection of it: ``image_id`` + superpixel ``ids``
    with the superpixel parameters they came from (as ``/segment/superpixels/selection``), or
    ``image_id`` + a ``mask`` file.
    """

    image_id: uuid.UUID | None = Field(None, description="A library image to search by (yours).")
    ids: list[int] | None = Field(
        None, min_length=1, max_length=MAX_SEGMENTS,
        description="With image_id: superpixel ids of the selection (from /segment/superpixels on "
                    "that image with the same n_segments, compactness, sigma, iterations).")
    limit: int = Field(10, ge=1, description="How many pictures to answer, best first "
                                             "(at most SPECIMEN_SEGMENT_SEARCH_MAX_LIMIT).")

    @field_validator("ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and any(isinstance(v, str) and "," in v for v in value):
            return [p.strip() for v in value for p in str(v).split(",") if p.strip()]
        return value


class SimilarPicture(BaseModel):
    """One picture of the answer: a library image, or a kept result of one."""

    image_id: uuid.UUID
    segmentation_id: uuid.UUID | None = Field(
        description="Set when the picture is a kept segmentation result of the image.")
    name: str = Field(description="The image's name.")
    similarity: float = Field(description="Cosine of the descriptors, -1 to 1; 1 is identical.")
    url: str = Field(description="The image (or the kept result) with its metadata.")
    content_url: str = Field(description="Its picture.")
    thumbnail_url: str = Field(description="A small PNG of it (`?size=` the longer side).")
    media_type: str
    width: int
    height: int
    created_at: Timestamp

    @classmethod
    def of(cls, hit: Hit) -> SimilarPicture:
        image, kept = hit.image, hit.segmentation
        url = f"{API_PREFIX}/images/{image.id}"
        if kept is not None:
            url = f"{url}/segmentations/{kept.id}"
        return cls(image_id=image.id, segmentation_id=None if kept is None else kept.id,
                   name=image.name, similarity=hit.similarity, url=url,
                   content_url=f"{url}/content", thumbnail_url=f"{url}/thumbnail.png",
                   media_type=kept.media_type if kept is not None else MEDIA_TYPES[image.format],
                   width=image.width, height=image.height,
                   created_at=kept.created_at if kept is not None else image.created_at)


class SearchResults(BaseModel):
    items: list[SimilarPicture]
    descriptor_set_version: str = Field(description="The descriptors compared (as "
                                                    "feature_set_version for objects).")

    @classmethod
    def of(cls, answer: SearchAnswer) -> SearchResults:
        return cls(items=[SimilarPicture.of(hit) for hit in answer.hits],
                   descriptor_set_version=answer.descriptor_set_version)
