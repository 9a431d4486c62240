"""Image bytes ⇄ pixel arrays (RGB/RGBA/gray, uint8/uint16) with limits checked from the header.

Decoding uses Pillow: it reads the header lazily, so the pixel count is checked before any
pixel is decoded (a 100000x100000 PNG of a few hundred bytes is refused at once); a plain 8-bit
gray or RGB PNG's pixels are then decoded by OpenCV, in less CPU, to the same values. The same
limit goes to both decoders' own guards: ``PIL.Image.MAX_IMAGE_PIXELS`` and OpenCV's
``OPENCV_IO_MAX_IMAGE_PIXELS`` environment variable (read by OpenCV when it first decodes, so
:func:`configure_decoder_limits` is called by the app's lifespan before any request).
Pixels leave this module in RGB order; OpenCV's BGR never crosses it.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from specimen_kit.admission import admit_pixels
from specimen_kit.deadlines import checkpoint
from specimen_kit.errors import ImageTooLarge, InvalidParameter, Problem, UnreadableImage, UnsupportedFormat

Format = Literal["png", "jpeg", "gif", "tiff", "bmp", "webp"]
DEFAULT_JPEG_QUALITY = 95
"""JPEG quality when none is asked for (and WebP's effort setting when lossless)."""
MIN_QUALITY, MAX_QUALITY = 1, 100

FORMATS: dict[str, str] = {
    "PNG": "png",
    "JPEG": "jpeg",
    "GIF": "gif",
    "TIFF": "tiff",
    "BMP": "bmp",
    "WEBP": "webp",
}
DEFAULT_MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class DecodedImage:
    """Decoded pixels and what they came from.

    Attributes
    ----------
    pixels : ndarray, (h, w) gray, (h, w, 3) RGB or (h, w, 4) RGBA; uint8 or uint16
    format : str
        One of ``png``, ``jpeg``, ``gif``, ``tiff``, ``bmp``, ``webp``.
    mode : str
        Pillow's mode of the original (``"P"``, ``"CMYK"``, ``"I;16"``, …).
    """

    pixels: npt.NDArray[Any]
    format: str
    mode: str


def configure_decoder_limits(max_pixels: int) -> None:
    """Give Pillow and OpenCV the same pixel limit (call once, before decoding)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(max_pixels)


def wide_to_uint16(values: npt.NDArray[Any]) -> npt.NDArray[np.uint16]:
    """32-bit integer or float pixels (TIFF modes ``I`` and ``F``) as 16-bit ones.

    One rule for every service that decodes images (segment and classify alike): whole numbers
    within 0..65535 keep their values; anything else (negative, fractional or larger values,
    as float exports of scanners hold) has its range stretched linearly onto 0..65535.

    Raises
    ------
    UnsupportedFormat
        Some pixel is NaN or infinite: there is no range to stretch.

    Examples
    --------
    >>> wide_to_uint16(np.array([[0, 300]], np.int32)).tolist()
    [[0, 300]]
    >>> wide_to_uint16(np.array([[-1.0, 0.0, 1.0]], np.float32)).tolist()
    [[0, 32768, 65535]]
    """
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise UnsupportedFormat("the image has NaN or infinite pixels; send finite values")
    low, high = values.min(), values.max()
    exact = low >= 0 and high <= 65535 and (values.dtype.kind != "f" or (values == np.rint(values)).all())
    if exact:
        return values.astype(np.uint16)
    if high <= low:  # one value out of range: a flat image
        return np.zeros(values.shape, np.uint16)
    scaled = values.astype(np.float32)
    scaled -= np.float32(low)
    scaled *= np.float32(65535.0 / (float(high) - float(low)))
    return np.rint(scaled, out=scaled).astype(np.uint16)


def _to_array(img: Image.Image) -> npt.NDArray[Any]:
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(img, dtype=np.uint16).copy()
    if mode in ("I", "F"):
        return wide_to_uint16(np.asarray(img))
    if mode in ("1", "L"):
        return np.asarray(img.convert("L")).copy()
    if mode == "LA" or mode == "PA":
        return np.asarray(img.convert("RGBA")).copy()
    if mode == "P":
        has_alpha = "transparency" in img.info
        return np.asarray(img.convert("RGBA" if has_alpha else "RGB")).copy()
    if mode in ("RGBA", "RGBa"):
        return np.asarray(img.convert("RGBA")).copy()
    return np.asarray(img.convert("RGB")).copy()


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, AttributeError)
"""What Pillow (and its plugins) raise on truncated or corrupt data."""


@contextmanager
def opened_image(data: bytes, *, max_pixels: int, not_an_image: str) -> Iterator[Image.Image]:
    """Pillow's lazily opened image, its pixel count checked from the header; decode inside.

    Every failure inside the block leaves as a typed problem: :class:`ImageTooLarge` (413, from
    the header or Pillow's own guard), :class:`~specimen_kit.admission.Overloaded` (503, no
    room in the request's pixel budget), :class:`UnreadableImage` (422: ``not_an_image`` when Pillow
    knows no such format, else truncated or corrupt); a :class:`~specimen_kit.errors.Problem`
    raised in the block passes through.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLarge(width * height, max_pixels, (width, height))
            # Counted against the process's pixel budget before a pixel is decoded (a 503 when
            # there is no room); given back when the request ends.
            admit_pixels(width * height)
            checkpoint("decode")
            yield img
    except Problem:
        raise
    except UnidentifiedImageError as err:
        raise UnreadableImage(not_an_image) from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        # Pillow's own guard (Image.MAX_IMAGE_PIXELS) fired inside Image.open, from the header.
        found = re.search(r"\((\d+) pixels\)", str(err))
        raise ImageTooLarge(int(found.group(1)) if found else -1, max_pixels) from err
    except _DECODE_ERRORS as err:
        raise UnreadableImage(f"the image is truncated or corrupt: {err}") from err


_PLAIN_PNG_CHUNKS = frozenset(
    (b"IHDR", b"IDAT", b"IEND", b"pHYs", b"sRGB", b"gAMA", b"cHRM", b"sBIT", b"tIME", b"bKGD", b"iCCP")
)
"""Chunks that change nothing in what Pillow or OpenCV decode (no transparency, no EXIF or XMP
orientation, no palette); a PNG with any other goes through Pillow alone."""


def _plain_png(data: bytes) -> bool:
    """Whether ``data`` is a non-interlaced 8-bit gray or RGB PNG of :data:`_PLAIN_PNG_CHUNKS`
    only: one that OpenCV decodes to Pillow's pixels (tested), in less CPU."""
    if len(data) < 33 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return False
    bit_depth, colour_type, interlace = data[24], data[25], data[28]
    if bit_depth != 8 or colour_type not in (0, 2) or interlace != 0:
        return False
    pos, end = 8, len(data)
    while pos + 8 <= end:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind not in _PLAIN_PNG_CHUNKS:
            return False
        if kind == b"IEND":
            return True
        pos += 12 + length
    return False


def _opencv_plain_png(data: bytes, img: Image.Image) -> npt.NDArray[Any] | None:
    """A plain PNG's pixels (:func:`_plain_png`) by OpenCV, as Pillow gives them; None when
    OpenCV cannot decode it (then Pillow decodes it, or says why it cannot)."""
    found = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    width, height = img.size
    if found is None or found.dtype != np.uint8 or found.shape[:2] != (height, width):
        return None
    if img.mode == "L" and found.ndim == 2:
        return found
    if img.mode == "RGB" and found.ndim == 3 and found.shape[2] == 3:
        rgb: npt.NDArray[Any] = cv2.cvtColor(found, cv2.COLOR_BGR2RGB)
        return rgb
    return None


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode PNG, JPEG, GIF, TIFF, BMP or WebP bytes into RGB(A)/gray pixels.

    The first frame of animated or multi-page files is used; EXIF orientation is applied;
    palette images become RGB (RGBA with transparency), CMYK becomes RGB, 16-bit gray stays
    ``uint16``.

    Raises
    ------
    UnreadableImage
        Empty, not an image, truncated or corrupt (the reason is in the message).
    UnsupportedFormat
        An image format other than the six above.
    ImageTooLarge
        More than ``max_pixels`` pixels, from the header, before decoding.

    Examples
    --------
    >>> decode_image(encode_image(np.zeros((2, 3), np.uint8), "png")).pixels.shape
    (2, 3)
    """
    if not data:
        raise UnreadableImage("the image is empty (0 bytes)")
    with opened_image(data, max_pixels=max_pixels,
                      not_an_image="the data is not an image in a known format") as img:
        fmt = FORMATS.get(img.format or "")
        if fmt is None:
            raise UnsupportedFormat(
                f"{img.format} images are not accepted; send one of {', '.join(FORMATS.values())}"
            )
        original_mode = img.mode
        if fmt == "png" and original_mode in ("L", "RGB") and _plain_png(data):
            # OpenCV's libpng decodes a plain PNG in ~15 % less CPU than Pillow (a 1024² frame:
            # 7.4 against 8.7 ms): the same pixels, nothing to transpose.
            fast = _opencv_plain_png(data, img)
            if fast is not None:
                return DecodedImage(fast, fmt, original_mode)
        img.seek(0)
        img.load()
        img = ImageOps.exif_transpose(img) or img
        pixels = _to_array(img)
    return DecodedImage(pixels, fmt, original_mode)


def _flatten_on_white(pixels: npt.NDArray[Any]) -> npt.NDArray[Any]:
    top = float(np.iinfo(pixels.dtype).max)
    alpha = pixels[:, :, 3:4].astype(np.float64) / top
    rgb = pixels[:, :, :3].astype(np.float64) * alpha + top * (1 - alpha)
    return np.rint(rgb).astype(pixels.dtype)


def _opencv_png(pixels: npt.NDArray[Any]) -> bytes:
    """PNG through OpenCV, which wants BGR(A) channel order."""
    if pixels.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
        pixels = cv2.cvtColor(np.ascontiguousarray(pixels), code)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels))
    if not ok:
        raise InvalidParameter(f"OpenCV could not encode a {pixels.dtype} {pixels.shape} image as PNG")
    return encoded.tobytes()


def encode_image(pixels: npt.NDArray[Any], format: str, quality: int | None = None) -> bytes:
    """Encode RGB(A)/gray pixels as ``png``, ``jpeg``, ``gif``, ``tiff``, ``bmp`` or ``webp``.

    Alpha is flattened onto white for formats without it (JPEG, BMP, GIF). 16-bit gray is kept
    by PNG and TIFF (use PNG for label images); other formats get its high byte.

    ``quality`` (1 … 100) applies to JPEG and WebP only: JPEG defaults to
    :data:`DEFAULT_JPEG_QUALITY`; WebP is lossless unless a quality is given, then lossy.

    Examples
    --------
    >>> encode_image(np.zeros((1, 1, 3), np.uint8), "png")[:4]
    b'\\x89PNG'
    """
    fmt = format.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt == "tif":
        fmt = "tiff"
    if fmt not in FORMATS.values():
        raise InvalidParameter(f"format={format!r} is unknown; use one of {', '.join(FORMATS.values())}")
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.ndim not in (2, 3)
        or pixels.dtype not in (np.uint8, np.uint16)
    ):
        got = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise InvalidParameter(f"pixels must be uint8/uint16 (h, w) or (h, w, 3|4), got {got}")
    if pixels.ndim == 3 and pixels.shape[2] not in (3, 4):
        raise InvalidParameter(f"pixels have {pixels.shape[2]} channels; use 3 (RGB) or 4 (RGBA)")
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int)
                                or not MIN_QUALITY <= quality <= MAX_QUALITY):
        raise InvalidParameter(
            f"quality={quality!r} is out of range; use an integer in [{MIN_QUALITY}, {MAX_QUALITY}]")
    arr = pixels
    if arr.ndim == 3 and arr.shape[2] == 4 and fmt in ("jpeg", "bmp", "gif"):
        arr = _flatten_on_white(arr)
    if arr.dtype == np.uint16 and not (arr.ndim == 2 and fmt in ("png", "tiff")):
        arr = (arr >> 8).astype(np.uint8)
    if fmt == "png":
        # OpenCV's PNG encoder is several times faster than Pillow's at its default level
        # (a 512x512 mask: ~0.75 ms against ~3.7 ms), and PNG answers are the hot path.
        return _opencv_png(arr)
    if arr.dtype == np.uint16:
        img = Image.fromarray(arr.astype("<u2"))
    else:
        img = Image.fromarray(np.ascontiguousarray(arr))
    out = io.BytesIO()
    options: dict[str, Any] = {}
    if fmt == "jpeg":
        options["quality"] = DEFAULT_JPEG_QUALITY if quality is None else quality
    elif fmt == "webp" and quality is None:
        options.update(lossless=True, quality=DEFAULT_JPEG_QUALITY)
    elif fmt == "webp":
        options["quality"] = quality
    img.save(out, format=fmt.upper(), **options)
    return out.getvalue()
