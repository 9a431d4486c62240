"""Settings of the segment service (environment variables prefixed ``SPECIMEN_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from specimen_kit.settings import ServiceSettings


class SegmentSettings(ServiceSettings):
    """The shared settings; the segment features add theirs here."""

    # Algorithms: the largest image decoded, checked from its header before any pixel is read.
    max_image_pixels: int = Field(
        default=40_000_000, gt=0, validation_alias="SPECIMEN_SEGMENT_MAX_IMAGE_PIXELS")
    # Objects: the most one image may hold (each costs memory and an answer row whatever its
    # size, so a frame of specks is refused as a 422 before anything is measured).
    max_objects: int = Field(default=100_000, gt=0, validation_alias="SPECIMEN_SEGMENT_MAX_OBJECTS")
    # Work stops between steps after this long: a little under the gateway's 60 s, so the
    # gateway hears a 503 rather than timing out while the CPU keeps working.
    work_deadline_seconds: float | None = Field(
        default=55.0, gt=0, validation_alias="SPECIMEN_SEGMENT_WORK_DEADLINE_SECONDS")

    # Image library: where its rows and blobs live, and how much each user may keep.
    database_url: str = Field(default="", validation_alias="SPECIMEN_SEGMENT_DATABASE_URL")
    blob_dir: Path | None = Field(default=None, validation_alias="SPECIMEN_SEGMENT_BLOB_DIR")
    quota_images: int = Field(default=1000, ge=0, validation_alias="SPECIMEN_SEGMENT_QUOTA_IMAGES")
    quota_bytes: int = Field(default=1 << 30, ge=0, validation_alias="SPECIMEN_SEGMENT_QUOTA_BYTES")

    # Similar-image search: the most pictures one search answers, and how many descriptor rows
    # (192 bytes each) the in-process index keeps between searches, over all owners.
    search_max_limit: int = Field(default=100, ge=1, le=1000,
                                  validation_alias="SPECIMEN_SEGMENT_SEARCH_MAX_LIMIT")
    search_cache_vectors: int = Field(default=500_000, ge=0,
                                      validation_alias="SPECIMEN_SEGMENT_SEARCH_CACHE_VECTORS")
    # Searches of scans and plankton objects (POST /images/search sources) ask classify.
    classify_url: str | None = Field(default=None, validation_alias="SPECIMEN_SEGMENT_CLASSIFY_URL")
    classify_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, validation_alias="SPECIMEN_SEGMENT_CLASSIFY_TIMEOUT_SECONDS")

    @property
    def resolved_database_url(self) -> str:
        """The library's database URL, or the SQLite file in the data directory when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'segment.sqlite3').resolve()}"

    @property
    def resolved_blob_dir(self) -> Path:
        """Where stored images and results are kept: a shared volume when there are replicas."""
        return self.blob_dir if self.blob_dir is not None else self.data_dir / "segment-blobs"
