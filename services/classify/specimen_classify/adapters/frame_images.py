"""Frame files: checked on upload without decoding their pixels, decoded for tiles.

Frames are kept as sent. On upload only the header is read and the file verified (Pillow's
``verify``: structure and checksums, no pixel buffer), so a bulk upload of hundreds of large
frames costs little memory and counts nothing against the request's pixel budget; the worker
and the tiles decode them with the shared codec (:func:`specimen_imaging.codecs.decode_image`).
"""

from __future__ import annotations

import io
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from specimen_classify.domain.plankton.project_records import ImageFacts
from specimen_imaging.codecs import decode_image
from specimen_kit.errors import ImageTooLarge, UnreadableImage, UnsupportedFormat

MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff",
               "BMP": "image/bmp", "WEBP": "image/webp", "GIF": "image/gif"}
_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
           AttributeError, Image.DecompressionBombError)


def inspect_frame(data: bytes, *, max_pixels: int) -> ImageFacts:
    """The frame's media type and size from its header, the file verified.

    Raises :class:`UnreadableImage` (not an image, truncated, corrupt), :class:`UnsupportedFormat`
    (an image format frames are not taken in) or :class:`ImageTooLarge` (over ``max_pixels``).
    """
    if not data:
        raise UnreadableImage("the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                media_type = MEDIA_TYPES.get(img.format or "")
                width, height = img.size
                if media_type is None:
                    raise UnsupportedFormat(f"{img.format} files are not taken as frames; send "
                                            "PNG, JPEG, TIFF, BMP, WebP or GIF")
                if width * height > max_pixels:
                    raise ImageTooLarge(width * height, max_pixels, (width, height))
                img.verify()
    except UnidentifiedImageError as error:
        raise UnreadableImage("not an image in a known format") from error
    except Image.DecompressionBombWarning as error:
        raise ImageTooLarge(-1, max_pixels) from error
    except _ERRORS as error:
        raise UnreadableImage(f"the image is truncated or corrupt: {error}") from error
    return ImageFacts(media_type, width, height)


class DecodedFrames:
    """The last few frames decoded for tiles, by blob key (a viewer asks for many tiles of one
    frame in a row); bounded by count, thread-safe."""

    def __init__(self, capacity: int = 4) -> None:
        self._capacity = capacity
        self._frames: OrderedDict[str, npt.NDArray[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def pixels(self, key: str, read: Callable[[], bytes], max_pixels: int) -> npt.NDArray[Any]:
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        pixels = decode_image(read(), max_pixels=max_pixels).pixels
        pixels.setflags(write=False)
        with self._lock:
            self._frames[key] = pixels
            while len(self._frames) > self._capacity:
                self._frames.popitem(last=False)
        return pixels
