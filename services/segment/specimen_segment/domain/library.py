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
  A segmentation is refused *before* its operation runs when the library is already full (no
  byte left), and again, with the result's real size, before it is kept.
- **Kept as asked.** A segmentation keeps its picture in the ``output`` format it was asked
  for; its content is served in that format, or converted on the way out (a 16-bit label
  image only to PNG or TIFF).
- **Described as stored.** An uploaded image, and a kept result that is a picture, get their
  similarity descriptors in the same transaction (:mod:`specimen_segment.domain.similarity`).
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

import cv2
import numpy as np
import numpy.typing as npt

from specimen_kit.errors import InvalidParameter
from specimen_kit.records import BlobStore, Content, Page
from specimen_segment.domain.errors import (
    ImageNotFound,
    InvalidImageName,
    QuotaExceeded,
    SegmentationNotFound,
)

__all__ = ["ImageNotFound", "InvalidImageName", "QuotaExceeded", "SegmentationNotFound"]

MAX_NAME_CHARS = 200
THUMBNAIL_SIDE = 160
MIN_THUMBNAIL_SIDE, MAX_THUMBNAIL_SIDE = 16, 512
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


IMAGE_SORTS: tuple[str, ...] = ("created_at", "name", "bytes")
"""The fields a listing of images may be sorted by (``field`` or ``-field``)."""


@dataclass(frozen=True)
class ImageQuery:
    """Which of the owner's images to list, in what order.

    ``sort`` is one of :data:`IMAGE_SORTS`, ``-`` first for descending; ties fall back to the
    newest first. ``name_contains`` keeps images whose name contains it, ignoring case.
    """

    sort: str = "-created_at"
    name_contains: str | None = None
    limit: int = 50
    offset: int = 0

    @property
    def sort_field(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


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

    @property
    def format(self) -> str:
        return format_of_media_type(self.media_type)


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

    def list_images(self, owner_id: int, query: ImageQuery) -> tuple[list[StoredImage], int]:
        """One page in ``query``'s order, and how many of the owner's images match in all."""
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

    def delete_segmentation(self, segmentation_id: uuid.UUID) -> None: ...

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

    @property
    def quality(self) -> int | None: ...


class Operations(Protocol):
    """The algorithms by name (:mod:`specimen_segment.operations`)."""

    def run(self, name: str, pixels: npt.NDArray[Any],
            params: Mapping[str, Any]) -> OperationResult:
        """Validate ``params`` (a 422 naming each bad one) and run ``name``."""
        ...

    def formats(self, name: str, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The picture formats the result can be kept and served in."""
        ...


class Decoder(Protocol):
    """Decodes image bytes with the service's pixel limit; raises a kit ``Problem`` (4xx)."""

    def __call__(self, data: bytes, /) -> Decoded: ...


class Descriptors(Protocol):
    """Describes pictures for the similar-image search as they are stored
    (:class:`specimen_segment.domain.similarity.DescriptorIndexer`).

    ``describe`` is pure CPU work and runs before the owner's lock and the first write (so
    that it holds neither the quota lock nor SQLite's one writer); ``add_*`` store its rows.
    """

    def describe(self, pixels: npt.NDArray[Any]) -> npt.NDArray[np.float32]: ...

    def describes(self, operation: str, params: Mapping[str, Any]) -> bool:
        """Whether a kept result of ``operation`` with ``params`` is a picture to describe."""
        ...

    def add_image(self, image: StoredImage, vectors: npt.NDArray[np.float32]) -> None: ...

    def add_segmentation(self, image: StoredImage, segmentation: StoredSegmentation,
                         vectors: npt.NDArray[np.float32]) -> None: ...


class Encoder(Protocol):
    def __call__(self, pixels: npt.NDArray[Any], format: str, quality: int | None = None,
                 /) -> bytes: ...


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


def choose_format(requested: str, offered: tuple[str, ...], what: str) -> str:
    """``requested`` when ``offered`` holds it; otherwise a 422 naming the choices."""
    if requested not in offered:
        raise InvalidParameter(f"output={requested!r} cannot hold {what}; use one of "
                               f"{', '.join(offered)}")
    return requested


def thumbnail_pixels(pixels: npt.NDArray[Any], size: int) -> npt.NDArray[Any]:
    """``pixels`` resampled (``INTER_AREA``) so that the longer side is at most ``size``; 8-bit."""
    if not MIN_THUMBNAIL_SIDE <= size <= MAX_THUMBNAIL_SIDE:
        raise InvalidParameter(f"size={size} is out of range; use {MIN_THUMBNAIL_SIDE} to "
                               f"{MAX_THUMBNAIL_SIDE}")
    small = pixels >> 8 if pixels.dtype == np.uint16 else pixels
    small = np.ascontiguousarray(small.astype(np.uint8, copy=False))
    height, width = small.shape[:2]
    scale = size / max(height, width)
    if scale >= 1:
        return small
    resized: npt.NDArray[Any] = cv2.resize(
        small, (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA)
    return resized


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
                 encode: Encoder, quota: Quota, clock: Clock, operations: Operations,
                 descriptors: Descriptors) -> None:
        self._rows = repository
        self._blobs = blobs
        self._decode = decode
        self._encode = encode
        self._quota = quota
        self._clock = clock
        self._operations = operations
        self._descriptors = descriptors

    def upload(self, owner_id: int, data: bytes, name: str | None) -> StoredImage:
        """Validate by decoding, check the quota, keep the original bytes."""
        image_id = uuid.uuid4()
        chosen = normalize_name(name if name is not None else f"image-{image_id.hex[:8]}")
        # Refused before decoding when it cannot fit; checked again under the owner's lock.
        check_quota(self._quota, self._rows.usage(owner_id), 1, len(data))
        decoded = self._decode(data)
        width, height, channels, bit_depth = pixel_layout(decoded.pixels)
        vectors = self._descriptors.describe(decoded.pixels)
        self._rows.lock_owner(owner_id)
        check_quota(self._quota, self._rows.usage(owner_id), 1, len(data))
        key = self._blobs.put(data)
        now = self._clock()
        image = StoredImage(
            id=image_id, owner_id=owner_id, name=chosen, format=decoded.format, width=width,
            height=height, channels=channels, bit_depth=bit_depth, bytes=len(data),
            blob_key=key, created_at=now, updated_at=now)
        self._rows.add_image(image)
        self._descriptors.add_image(image, vectors)
        return image

    def usage(self, owner_id: int) -> tuple[Usage, Quota]:
        """What the owner keeps (images; bytes of originals plus results) and the limits."""
        return self._rows.usage(owner_id), self._quota

    def list_images(self, owner_id: int, query: ImageQuery) -> Page[StoredImage]:
        if query.sort_field not in IMAGE_SORTS:
            raise InvalidParameter(f"sort={query.sort!r} is unknown; use one of "
                                   f"{', '.join(IMAGE_SORTS)}, or '-' before one for descending")
        items, total = self._rows.list_images(owner_id, query)
        return Page(items, total, query.limit, query.offset)

    def get_image(self, owner_id: int, image_id: uuid.UUID) -> StoredImage:
        image = self._rows.get_image(owner_id, image_id)
        if image is None:
            raise ImageNotFound(image_id)
        return image

    def image_pixels(self, image: StoredImage) -> npt.NDArray[Any]:
        """The decoded pixels of ``image`` (from :meth:`get_image`)."""
        return self._decode(self._blobs.get(image.blob_key)).pixels

    def image_content(self, image: StoredImage, format: str | None = None,
                      quality: int | None = None) -> Content:
        """The original bytes of ``image`` (from :meth:`get_image`), or converted to ``format``."""
        original = self._blobs.get(image.blob_key)
        if (format is None or format == image.format) and quality is None:
            return Content(original, MEDIA_TYPES[image.format],
                           download_filename(image.name, image.format))
        chosen = format or image.format
        converted = self._encode(self._decode(original).pixels, chosen, quality)
        return Content(converted, MEDIA_TYPES[chosen], download_filename(image.name, chosen))

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
                params: Mapping[str, Any], output: str = "png") -> StoredSegmentation:
        """Run ``operation`` on the stored image; keep its picture as ``output`` and its facts.

        A full library is refused before the operation runs: the work would be thrown away.
        """
        image = self.get_image(owner_id, image_id)
        if not isinstance(params, Mapping):
            raise InvalidParameter(
                f"params must be an object of named parameters, got {type(params).__name__}")
        chosen = choose_format(output, self._operations.formats(operation, params),
                               f"the result of {operation}")
        check_quota(self._quota, self._rows.usage(owner_id), 0, 1)
        pixels = self._decode(self._blobs.get(image.blob_key)).pixels
        result = self._operations.run(operation, pixels, params)
        data = self._encode(result.image, chosen, result.quality)
        vectors = (self._descriptors.describe(result.image)
                   if self._descriptors.describes(operation, params) else None)
        self._rows.lock_owner(owner_id)
        check_quota(self._quota, self._rows.usage(owner_id), 0, len(data))
        key = self._blobs.put(data)
        segmentation = StoredSegmentation(
            id=uuid.uuid4(), image_id=image_id, operation=operation, params=jsonable(dict(params)),
            summary=jsonable(result.summary), media_type=MEDIA_TYPES[chosen], bytes=len(data),
            blob_key=key, created_at=self._clock())
        self._rows.add_segmentation(segmentation)
        if vectors is not None:
            self._descriptors.add_segmentation(image, segmentation, vectors)
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

    def delete_segmentation(self, owner_id: int, image_id: uuid.UUID,
                            segmentation_id: uuid.UUID) -> None:
        """Forget one kept result; its blob goes once the deletion is committed."""
        segmentation = self.get_segmentation(owner_id, image_id, segmentation_id)
        self._rows.delete_segmentation(segmentation.id)
        self._blobs.remove(segmentation.blob_key)

    def thumbnail(self, owner_id: int, image_id: uuid.UUID,
                  segmentation_id: uuid.UUID | None = None, size: int = THUMBNAIL_SIDE) -> Content:
        """A PNG of the image (or of a kept result) whose longer side is at most ``size``."""
        image = self.get_image(owner_id, image_id)
        key, suffix = image.blob_key, "-thumbnail"
        if segmentation_id is not None:
            kept = self.get_segmentation(owner_id, image_id, segmentation_id)
            key, suffix = kept.blob_key, f"-{kept.operation}-thumbnail"
        small = thumbnail_pixels(self._decode(self._blobs.get(key)).pixels, size)
        return Content(self._encode(small, "png", None), MEDIA_TYPES["png"],
                       download_filename(image.name, "png", suffix))

    def segmentation_formats(self, segmentation: StoredSegmentation) -> tuple[str, ...]:
        """The formats a kept result is served in: its own first, then what it converts to."""
        offered = self._operations.formats(segmentation.operation, segmentation.params)
        return (segmentation.format, *(f for f in offered if f != segmentation.format))

    def segmentation_content(self, owner_id: int, image_id: uuid.UUID,
                             segmentation_id: uuid.UUID, format: str | None = None,
                             quality: int | None = None) -> Content:
        """The kept picture as stored, or converted to ``format`` (one of its formats)."""
        image = self.get_image(owner_id, image_id)
        segmentation = self.get_segmentation(owner_id, image_id, segmentation_id)
        stored = self._blobs.get(segmentation.blob_key)
        suffix = f"-{segmentation.operation}"
        if (format is None or format == segmentation.format) and quality is None:
            return Content(stored, segmentation.media_type,
                           download_filename(image.name, segmentation.format, suffix))
        chosen = choose_format(format or segmentation.format,
                               self.segmentation_formats(segmentation), "this result")
        converted = self._encode(self._decode(stored).pixels, chosen, quality)
        return Content(converted, MEDIA_TYPES[chosen],
                       download_filename(image.name, chosen, suffix))
