"""MRI slice bytes (PNG, JPEG, TIFF or DICOM) → an 8-bit pixel array, gray or (kept) colour.

A picture in colour keeps its three channels (RGB), so that the MRI model's image checks
(:func:`specimen_classify.domain.familiarity.unfamiliar_image`) can tell a colour photograph from
a slice; a picture whose channels are all equal (most MRI JPEGs are stored as RGB) comes back
gray. The preprocessing converts colour to luma (ITU-R 601), as it always did.

Pixel counts are checked from the header before any pixel is decoded: Pillow's
``Image.open`` reads only the header, and a DICOM dataset is parsed with its Rows/Columns
before its pixel data is turned into an array. DICOM is recognised by its ``DICM`` marker
after the 128-byte preamble (PS3.10 files); bare datasets without it are not accepted.

Every failure leaves as a typed :mod:`specimen_classify.domain.errors` problem
(``UnreadableImage`` 422, ``UnsupportedFormat`` 415, ``ImageTooLarge`` 413).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pydicom.errors
from PIL import Image, ImageOps
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_modality_lut
from pydicom.pixels.utils import pixel_array

from specimen_imaging.codecs import opened_image, wide_to_uint16
from specimen_kit.errors import ImageTooLarge, UnreadableImage, UnsupportedFormat

IMAGE_FORMATS = ("PNG", "JPEG", "TIFF")
"""Pillow format names accepted besides DICOM."""
DICOM_MAGIC = b"DICM"
DICOM_MAGIC_OFFSET = 128

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, AttributeError)


def is_dicom(data: bytes) -> bool:
    """Whether the bytes are a DICOM PS3.10 file (``DICM`` after the 128-byte preamble).

    Examples
    --------
    >>> is_dicom(bytes(128) + b"DICM"), is_dicom(b"\\x89PNG")
    (True, False)
    """
    return data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + len(DICOM_MAGIC)] == DICOM_MAGIC


def stretch_to_uint8(values: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Map an array's minimum-maximum linearly onto 0-255 (a flat array becomes zeros).

    Examples
    --------
    >>> stretch_to_uint8(np.array([-10.0, 0.0, 10.0])).tolist()
    [0, 128, 255]
    """
    as_float = values.astype(np.float64)
    low, high = float(as_float.min()), float(as_float.max())
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return np.rint((as_float - low) * (255.0 / (high - low))).astype(np.uint8)


def window_to_uint8(values: npt.NDArray[Any], center: float, width: float) -> npt.NDArray[np.uint8]:
    """Apply a DICOM linear VOI window (PS3.3 C.11.2.1.2.1) and return 0-255.

    Examples
    --------
    >>> window_to_uint8(np.array([0.0, 40.0, 80.0, 120.0]), center=60, width=81).tolist()
    [0, 65, 193, 255]
    """
    as_float = values.astype(np.float64)
    scaled = ((as_float - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def _first_number(value: Any) -> float | None:
    """WindowCenter/Width may be multi-valued; the first pair is the default view."""
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _read_dicom(data: bytes, max_pixels: int) -> npt.NDArray[np.uint8]:
    try:
        ds: Dataset = pydicom.dcmread(io.BytesIO(data))
    except (pydicom.errors.InvalidDicomError, *_DECODE_ERRORS) as err:
        raise UnreadableImage(f"the DICOM file is truncated or corrupt: {err}") from err
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise UnreadableImage("the DICOM file has no pixel data (PixelData is missing)")
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or columns <= 0:
        raise UnreadableImage(f"the DICOM file has no image size (Rows={rows}, Columns={columns})")
    if rows * columns > max_pixels:
        raise ImageTooLarge(rows * columns, max_pixels, (columns, rows))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    try:
        # index=0 decodes only the first frame of a multi-frame series.
        pixels = pixel_array(ds, index=0) if frames > 1 else pixel_array(ds)
        values = apply_modality_lut(pixels, ds)
    except (NotImplementedError, RuntimeError) as err:
        syntax = ds.file_meta.get("TransferSyntaxUID", "unknown") if hasattr(ds, "file_meta") else "unknown"
        raise UnreadableImage(
            f"the DICOM pixel data cannot be decoded (transfer syntax {syntax}): {err}"
        ) from err
    except _DECODE_ERRORS as err:
        raise UnreadableImage(f"the DICOM pixel data is truncated or corrupt: {err}") from err
    if values.ndim == 3 and values.shape[-1] == 3:
        # Colour DICOM (RGB after pydicom's YBR conversion): stretched, its colour kept.
        return _gray_if_equal(stretch_to_uint8(values))
    if values.ndim != 2:
        raise UnreadableImage(f"the DICOM pixel data has shape {values.shape}, not a 2-D slice")
    center = _first_number(ds.get("WindowCenter"))
    width = _first_number(ds.get("WindowWidth"))
    if center is not None and width is not None and width >= 1:
        gray = window_to_uint8(values, center, width)
    else:
        gray = stretch_to_uint8(values)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        # MONOCHROME1 shows low values white; invert so tissue is bright as in MONOCHROME2.
        gray = (255 - gray).astype(np.uint8)
    return gray


def _gray_if_equal(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """One channel when the three are equal (a gray picture stored as RGB), else the RGB array."""
    if bool((rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 1] == rgb[:, :, 2]).all()):
        return np.array(rgb[:, :, 0], dtype=np.uint8, copy=True)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _pillow_pixels(img: Image.Image) -> npt.NDArray[np.uint8]:
    mode = img.mode
    if mode in ("I", "F"):
        # The decoding rule every service shares (NaN and infinities refused), then stretched.
        return stretch_to_uint8(wide_to_uint16(np.asarray(img)))
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return stretch_to_uint8(np.asarray(img))
    if mode in ("1", "L", "LA", "La"):
        return np.array(img.convert("L"), dtype=np.uint8, copy=True)
    # RGB, RGBA, palette, CMYK, YCbCr…: colour, kept for the image checks (alpha dropped).
    return _gray_if_equal(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _read_picture(data: bytes, max_pixels: int) -> npt.NDArray[np.uint8]:
    with opened_image(data, max_pixels=max_pixels,
                      not_an_image="the data is neither a PNG, JPEG or TIFF image nor a DICOM file") as img:
        if img.format not in IMAGE_FORMATS:
            raise UnsupportedFormat(
                f"{img.format} images are not accepted for MRI slices; send PNG, JPEG, TIFF or DICOM"
            )
        img.seek(0)
        img.load()
        img = ImageOps.exif_transpose(img) or img
        return _pillow_pixels(img)


def read_mri(data: bytes, *, max_pixels: int) -> npt.NDArray[np.uint8]:
    """Decode an MRI slice into 8-bit pixels: gray, or RGB when the picture has colour.

    PNG/JPEG/TIFF: the first frame, EXIF orientation applied; colour kept as RGB (alpha
    dropped) unless its three channels are equal, 16-bit and 32-bit gray stretched from their
    minimum-maximum to 0-255. DICOM: the first frame, RescaleSlope/Intercept (modality LUT)
    applied, then the first WindowCenter/WindowWidth when present (else minimum-maximum) to
    0-255; MONOCHROME1 is inverted; colour stretched and kept.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    max_pixels : int
        Largest accepted ``width * height``, checked from the header before decoding.

    Returns
    -------
    ndarray of uint8, shape (h, w) or (h, w, 3)

    Raises
    ------
    UnreadableImage
        Empty, not an image, truncated or corrupt, DICOM without pixel data (the reason is
        in the message).
    UnsupportedFormat
        A readable image in another format (GIF, BMP, WebP, …).
    ImageTooLarge
        More than ``max_pixels`` pixels.

    Examples
    --------
    >>> import cv2
    >>> png = cv2.imencode(".png", np.full((2, 3), 7, np.uint8))[1].tobytes()
    >>> read_mri(png, max_pixels=100).tolist()
    [[7, 7, 7], [7, 7, 7]]
    """
    if not data:
        raise UnreadableImage("the image is empty (0 bytes)")
    if is_dicom(data):
        return _read_dicom(data, max_pixels)
    return _read_picture(data, max_pixels)
