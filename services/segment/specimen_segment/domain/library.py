"""The per-user image library: upload, list, convert, rename, delete, and kept segmentations.

Rules the use-cases enforce, whatever the storage:

- **Owner-only.** Every image belongs to the user who uploaded it (the token's ``sub``). Anyone
  else — any role, admin included — gets :class:`ImageNotFound` (404), never 403, so ids
  cannot be probed. The library holds a user's own working files; the suite has no use-case
  that needs someone else's, so admins get no exception to the rule.
- **Validated once, stored as uploaded.** An upload is decoded once to check it (the pixel
  limit is applied from the header, before decoding); the original bytes are what is kept.
- **Quotas.** A user may keep at most ``Quota.images`` images and ``Quota.bytes`` bytes of
  originals plus results; going over is a :class:`QuotaExceeded` (409) naming the numbers.
- **No orphans, nothing lost.** The content is written to the blob store *before* its row is
  inserted; the request's unit of work deletes the new blobs when the transaction fails, and
  removes the blobs of deleted rows only *after* the transaction commits (see the
  :class:`BlobStore` port). A crash between a blob write and the commit, or between a commit
  and a blob removal, leaves a blob without a row: ``python -m specimen_segment
  sweep-orphans`` removes those (:func:`specimen_kit.blobs.orphaned_keys`).
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from specimen_kit.errors import NotFound, Problem
from specimen_kit.records import BlobStore, Content, Page

MAX_NAME_CHARS = 200
MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "webp": "image/webp",
}
_EXTENSIONS = {"jpeg": "jpg"}
_KNOWN_SUFFIX = re.compile(r"\.(png|jpe?g|gif|tiff?|bmp|webp)$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

T = TypeVar("T")
Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware UTC."""


# --- errors -------------------------------------------------------------------------------


class ImageNotFound(NotFound):
    """No image with this id belongs to the caller (also when it belongs to someone else)."""

    title = "Image not found"
    slug = "image-not-found"

    def __init__(self, image_id: uuid.UUID) -> None:
        super().__init__(f"No image {image_id} is in your library.", image_id=str(image_id))


class SegmentationNotFound(NotFound):
    title = "Segmentation not found"
    slug = "segmentation-not-found"

    def __init__(self, image_id: uuid.UUID, segmentation_id: uuid.UUID) -> None:
        super().__init__(f"Image {image_id} has no segmentation {segmentation_id}.",
                         image_id=str(image_id), segmentation_id=str(segmentation_id))


class QuotaExceeded(Problem):
    """Keeping this would take the user over their quota of images or bytes (409).

    409, not 413: the request itself is acceptable; the conflict is with what the user already
    stores, and deleting something resolves it.
    """

    status = 409
    title = "Quota exceeded"
    slug = "quota-exceeded"

    def __init__(self, quota: str, used: int, requested: int, limit: int) -> None:
        unit = "images" if quota == "images" else "bytes"
        super().__init__(
            f"Your library holds {used} {unit} of the {limit} allowed; keeping {requested} more "
            f"would exceed the quota. Delete images or results to make room.",
            quota=quota, used=used, requested=requested, limit=limit)


class InvalidImageName(Problem):
    status = 422
    title = "Invalid image name"
    slug = "invalid-image-name"


# --- entities -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredImage:
    """An image in a user's library; ``blob_key`` names its original bytes in the blob store."""

    id: uuid.UUID
    owner_id: int
    name: str
    format: str
    width: int
    height: int
    channels: int
    bit_depth: int
    bytes: int
    blob_key: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredSegmentation:
    """The kept result of one operation run on a stored image."""

    id: uuid.UUID
    image_id: uuid.UUID
    operation: str
    params: dict[str, Any]
    summary: dict[str, Any]
    media_type: str
    bytes: int
    blob_key: str
    created_at: datetime


@dataclass(frozen=True)
class Usage:
    images: int
    bytes: int


@dataclass(frozen=True)
class Quota:
    """Per-user limits: images kept, and bytes of originals plus results."""

    images: int
    bytes: int


# --- ports --------------------------------------------------------------------------------


class LibraryRepository(Protocol):
    """Rows of images and segmentations. Flushes, never commits; every query is owner-scoped."""

    def lock_owner(self, owner_id: int) -> None:
        """Serialize quota checks of one owner until the transaction ends (no-op if unneeded)."""
        ...

    def usage(self, owner_id: int) -> Usage: ...

    def add_image(self, image: StoredImage) -> None: ...

    def get_image(self, owner_id: int, image_id: uuid.UUID) -> StoredImage | None: ...

    def list_images(self, owner_id: int, limit: int, offset: int) -> tuple[list[StoredImage], int]:
        """One page, newest first, and the owner's total."""
        ...

    def save_image(self, image: StoredImage) -> None: ...

    def delete_image(self, image_id: uuid.UUID) -> None:
        """Delete the image row; its segmentations go with it (foreign-key cascade)."""
        ...

    def add_segmentation(self, segmentation: StoredSegmentation) -> None: ...

    def get_segmentation(self, image_id: uuid.UUID,
                         segmentation_id: uuid.UUID) -> StoredSegmentation | None: ...

    def list_segmentations(self, image_id: uuid.UUID, limit: int,
                           offset: int) -> tuple[list[StoredSegmentation], int]:
        """One page, newest first, and the image's total."""
        ...

    def segmentation_keys(self, image_id: uuid.UUID) -> list[str]:
        """Blob keys of all results of one image."""
        ...


class Decoded(Protocol):
    """What a decoder returns (:class:`specimen_imaging.codecs.DecodedImage`)."""

    @property
    def pixels(self) -> npt.NDArray[Any]: ...

    @property
    def format(self) -> str: ...


class OperationResult(Protocol):
    """What an operation returns (:class:`specimen_segment.operations.OperationOutput`)."""

    @property
    def image(self) -> npt.NDArray[Any]: ...

    @property
    def media_type(self) -> str: ...

    @property
    def summary(self) -> dict[str, Any]: ...


Decoder = Callable[[bytes], Decoded]
"""Decodes image bytes with the service's pixel limit; raises a kit ``Problem`` (4xx)."""
Encoder = Callable[[npt.NDArray[Any], str], bytes]
OperationRunner = Callable[[str, npt.NDArray[Any], Mapping[str, Any]], OperationResult]


# --- rules --------------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """The name as stored: NFC, trimmed, 1 to :data:`MAX_NAME_CHARS` characters, no controls."""
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        raise InvalidImageName("The image name is empty; give it at least one visible character.")
    if len(cleaned) > MAX_NAME_CHARS:
        raise InvalidImageName(f"The image name has {len(cleaned)} characters; "
                               f"the limit is {MAX_NAME_CHARS}.")
    if _CONTROL.search(cleaned):
        raise InvalidImageName("The image name contains control characters (tabs, line breaks "
                               "or others); remove them.")
    return cleaned


def download_filename(name: str, format: str, suffix: str = "") -> str:
    """``name`` with its image extension replaced by the served format's (``scan.png`` → ``scan.jpg``)."""
    stem = _KNOWN_SUFFIX.sub("", name) or "image"
    return f"{stem}{suffix}.{_EXTENSIONS.get(format, format)}"


def format_of_media_type(media_type: str) -> str:
    for format, known in MEDIA_TYPES.items():
        if known == media_type:
            return format
    raise ValueError(f"{media_type!r} is not an image media type the library stores")


def pixel_layout(pixels: npt.NDArray[Any]) -> tuple[int, int, int, int]:
    """``(width, height, channels, bit_depth)`` of decoded (h, w[, c]) pixels."""
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    channels = 1 if pixels.ndim == 2 else int(pixels.shape[2])
    return width, height, channels, 8 * pixels.dtype.itemsize


def check_quota(quota: Quota, usage: Usage, new_images: int, new_bytes: int) -> None:
    """Raise :class:`QuotaExceeded` when adding this much would go over either limit."""
    if new_images and usage.images + new_images > quota.images:
        raise QuotaExceeded("images", usage.images, new_images, quota.images)
    if usage.bytes + new_bytes > quota.bytes:
        raise QuotaExceeded("bytes", usage.bytes, new_bytes, quota.bytes)


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays turned into JSON types, for storing a summary."""
    def convert(item: Any) -> Any:
        if isinstance(item, np.ndarray | np.generic):
            return item.tolist()
        raise TypeError(f"{type(item).__name__} is not JSON serializable")

    return json.loads(json.dumps(value, default=convert))


# --- use-cases ----------------------------------------------------------------------------


class ImageLibrary:
    """The use-cases of one request, on behalf of one owner's library."""

    def __init__(self, repository: LibraryRepository, blobs: BlobStore, *, decode: Decoder,
                 encode: Encoder, quota: Quota, clock: Clock,
                 run_operation: OperationRunner | None = None) -> None:
        self._rows = repository
        self._blobs = blobs
        self._decode = decode
        self._encode = encode
        self._quota = quota
        self._clock = clock
        self._run_operation = run_operation

    def upload(self, owner_id: int, data: bytes, name: str | None) -> StoredImage:
        """Validate by decoding, check the quota, keep the original bytes."""
        image_id = uuid.uuid4()
        chosen = normalize_name(name if name is not None else f"image-{image_id.hex[:8]}")
        decoded = self._decode(data)
        width, height, channels, bit_depth = pixel_layout(decoded.pixels)
        self._rows.lock_owner(owner_id)
        check_quota(self._quota, self._rows.usage(owner_id), 1, len(data))
        key = self._blobs.put(data)
        now = self._clock()
        image = StoredImage(
            id=image_id, owner_id=owner_id, name=chosen, format=decoded.format, width=width,
            height=height, channels=channels, bit_depth=bit_depth, bytes=len(data),
            blob_key=key, created_at=now, updated_at=now)
        self._rows.add_image(image)
        return image

    def list_images(self, owner_id: int, limit: int, offset: int) -> Page[StoredImage]:
        items, total = self._rows.list_images(owner_id, limit, offset)
        return Page(items, total, limit, offset)

    def get_image(self, owner_id: int, image_id: uuid.UUID) -> StoredImage:
        image = self._rows.get_image(owner_id, image_id)
        if image is None:
            raise ImageNotFound(image_id)
        return image

    def image_content(self, owner_id: int, image_id: uuid.UUID,
                      format: str | None = None) -> Content:
        """The original bytes, or the image converted to ``format``."""
        image = self.get_image(owner_id, image_id)
        original = self._blobs.get(image.blob_key)
        if format is None or format == image.format:
            return Content(original, MEDIA_TYPES[image.format],
                           download_filename(image.name, image.format))
        converted = self._encode(self._decode(original).pixels, format)
        return Content(converted, MEDIA_TYPES[format], download_filename(image.name, format))

    def rename(self, owner_id: int, image_id: uuid.UUID, name: str) -> StoredImage:
        image = replace(self.get_image(owner_id, image_id), name=normalize_name(name),
                        updated_at=self._clock())
        self._rows.save_image(image)
        return image

    def delete(self, owner_id: int, image_id: uuid.UUID) -> None:
        """Delete the image and its results; their blobs go once the deletion is committed."""
        image = self.get_image(owner_id, image_id)
        keys = [image.blob_key, *self._rows.segmentation_keys(image_id)]
        self._rows.delete_image(image_id)
        for key in keys:
            self._blobs.remove(key)

    def segment(self, owner_id: int, image_id: uuid.UUID, operation: str,
                params: Mapping[str, Any]) -> StoredSegmentation:
        """Run ``operation`` on the stored image and keep its result image and summary."""
        if self._run_operation is None:
            raise RuntimeError("this library was built without an operation runner")
        image = self.get_image(owner_id, image_id)
        pixels = self._decode(self._blobs.get(image.blob_key)).pixels
        output = self._run_operation(operation, pixels, params)
        data = self._encode(output.image, format_of_media_type(output.media_type))
        self._rows.lock_owner(owner_id)
        check_quota(self._quota, self._rows.usage(owner_id), 0, len(data))
        key = self._blobs.put(data)
        segmentation = StoredSegmentation(
            id=uuid.uuid4(), image_id=image_id, operation=operation, params=jsonable(dict(params)),
            summary=jsonable(output.summary), media_type=output.media_type, bytes=len(data),
            blob_key=key, created_at=self._clock())
        self._rows.add_segmentation(segmentation)
        return segmentation

    def list_segmentations(self, owner_id: int, image_id: uuid.UUID, limit: int,
                           offset: int) -> Page[StoredSegmentation]:
        self.get_image(owner_id, image_id)
        items, total = self._rows.list_segmentations(image_id, limit, offset)
        return Page(items, total, limit, offset)

    def get_segmentation(self, owner_id: int, image_id: uuid.UUID,
                         segmentation_id: uuid.UUID) -> StoredSegmentation:
        self.get_image(owner_id, image_id)
        segmentation = self._rows.get_segmentation(image_id, segmentation_id)
        if segmentation is None:
            raise SegmentationNotFound(image_id, segmentation_id)
        return segmentation

    def segmentation_content(self, owner_id: int, image_id: uuid.UUID,
                             segmentation_id: uuid.UUID) -> Content:
        image = self.get_image(owner_id, image_id)
        segmentation = self.get_segmentation(owner_id, image_id, segmentation_id)
        format = format_of_media_type(segmentation.media_type)
        return Content(self._blobs.get(segmentation.blob_key), segmentation.media_type,
                       download_filename(image.name, format, f"-{segmentation.operation}"))
