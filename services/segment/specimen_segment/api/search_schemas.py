"""Request fields and answer of ``POST /images/search``."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from specimen_imaging.options import comma_separated
from specimen_kit.timestamps import Timestamp
from specimen_segment.api.library_schemas import API_PREFIX
from specimen_segment.domain.library import MEDIA_TYPES
from specimen_segment.domain.operation_params import MAX_SEGMENTS, SuperpixelOptions
from specimen_segment.domain.similarity import ForeignHit, Hit, SearchAnswer, Source

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
    sources: list[Source] = Field(
        default_factory=lambda: list[Source](("library",)), min_length=1, max_length=3,
        description="What to rank, merged into one top-k by similarity: `library` (your "
                    "pictures, the default), `scans` (MRI scans of your hospital; an admin's: "
                    "all), `objects` (plankton objects of the projects you belong to). Scans "
                    "and objects are the classify service's; it not answering is a 503 "
                    "`classify-unavailable`.")

    _lists = field_validator("sources", "ids", mode="before")(comma_separated)


class SimilarPicture(BaseModel):
    """One picture of the answer: a library image, or a kept result of one."""

    kind: Literal["library"] = "library"
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


class SimilarScan(BaseModel):
    """An MRI scan of the answer (``sources`` scans), as the classify service answered it."""

    kind: Literal["scan"] = "scan"
    scan_id: int
    similarity: float = Field(description="Cosine of the descriptors, -1 to 1; 1 is identical.")
    hospital: str
    patient_ref: str | None = None
    label: str = Field(description="The scan's latest classification.")
    probability: float
    true_label: str | None = None
    media_type: str
    created_at: Timestamp
    url: str = Field(description="The scan record (`/api/v1/scans/{id}`).")
    content_url: str = Field(description="Its image as it was sent.")
    thumbnail_url: str = Field(description="The slice as a PNG.")


class SimilarObject(BaseModel):
    """A plankton object of the answer (``sources`` objects), as the classify service answered it."""

    kind: Literal["object"] = "object"
    object_id: int
    project_id: int
    similarity: float = Field(description="Cosine of the descriptors' image parts, -1 to 1.")
    frame_id: int
    category: str
    probability: float
    status: str
    file_name: str
    rank: int
    url: str = Field(description="The object (`/api/v1/objects/{id}`).")
    crop_url: str
    thumbnail_url: str = Field(description="Its crop.")


SimilarItem = Annotated[SimilarPicture | SimilarScan | SimilarObject, Field(discriminator="kind")]


def _item(hit: Hit | ForeignHit) -> SimilarPicture | SimilarScan | SimilarObject:
    if isinstance(hit, Hit):
        return SimilarPicture.of(hit)
    if hit.kind == "scan":
        return SimilarScan.model_validate({**hit.fields, "similarity": hit.similarity})
    return SimilarObject.model_validate({**hit.fields, "similarity": hit.similarity})


class SearchResults(BaseModel):
    items: list[SimilarItem] = Field(description="Best first; each with its `kind` (`library`, "
                                                 "`scan`, `object`), its ids and its links.")
    descriptor_set_version: str = Field(description="The descriptors compared (as "
                                                    "feature_set_version for objects).")

    @classmethod
    def of(cls, answer: SearchAnswer) -> SearchResults:
        return cls(items=[_item(hit) for hit in answer.hits],
                   descriptor_set_version=answer.descriptor_set_version)
