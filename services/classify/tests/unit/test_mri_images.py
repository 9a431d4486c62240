"""read_mri: PNG/JPEG/TIFF and DICOM bytes to 8-bit gray, and every bad input to a typed error."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from specimen_classify.adapters.mri_images import read_mri, stretch_to_uint8, window_to_uint8
from specimen_classify.domain.preprocessing import gray_uint8
from specimen_kit.errors import ImageTooLarge, UnreadableImage, UnsupportedFormat

LIMIT = 10_000_000


def _dicom(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    center: float | None = None,
    width: float | None = None,
    frames: int = 1,
    with_pixels: bool = True,
) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("slice.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows, ds.Columns = pixels.shape[-2], pixels.shape[-1]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    if center is not None:
        ds.WindowCenter = center
    if width is not None:
        ds.WindowWidth = width
    if with_pixels:
        ds.PixelData = pixels.astype("<u2").tobytes()
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def _png(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


def _pillow(pixels: np.ndarray, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, **options)
    return out.getvalue()


def _ramp16() -> np.ndarray:
    return (np.arange(12, dtype=np.uint16).reshape(3, 4) * 100) + 500  # 500..1600


# Pictures


def test_png_gray_is_returned_exactly() -> None:
    pixels = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10

    out = read_mri(_png(pixels), max_pixels=LIMIT)

    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, pixels)


def test_png_16_bit_is_stretched_by_its_range() -> None:
    out = read_mri(_png(_ramp16()), max_pixels=LIMIT)

    np.testing.assert_array_equal(out, stretch_to_uint8(_ramp16()))
    assert (int(out.min()), int(out.max())) == (0, 255)


def test_a_colour_png_keeps_its_colour_for_the_image_checks() -> None:
    # Issue 11: colour was turned to luma here, so a photograph looked like a gray slice.
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[1, 0] = (0, 0, 255)
    rgb[1, 1] = (255, 255, 255)

    out = read_mri(_pillow(rgb, "PNG"), max_pixels=LIMIT)

    np.testing.assert_array_equal(out, rgb)
    # ITU-R 601 luma is still what the network sees (the preprocessing converts it).
    assert gray_uint8(out).tolist() == [[76, 150], [29, 255]]


def test_a_gray_picture_stored_as_rgb_comes_back_gray() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])

    out = read_mri(_pillow(rgba, "PNG"), max_pixels=LIMIT)

    np.testing.assert_array_equal(out, gray)


def test_tiff_gray_and_16_bit() -> None:
    pixels = np.arange(20, dtype=np.uint8).reshape(4, 5)

    np.testing.assert_array_equal(read_mri(_pillow(pixels, "TIFF"), max_pixels=LIMIT), pixels)
    np.testing.assert_array_equal(
        read_mri(_pillow(_ramp16(), "TIFF"), max_pixels=LIMIT), stretch_to_uint8(_ramp16())
    )


def _float_tiff(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.float32), mode="F").save(buffer, "TIFF")
    return buffer.getvalue()


def test_float_tiff_with_negatives_is_stretched_as_segment_decodes_it() -> None:
    # Issue 9, finding 13: segment refused what classify accepted; one rule for both now.
    values = np.linspace(-1, 1, 20, dtype=np.float32).reshape(4, 5)
    gray = read_mri(_float_tiff(values), max_pixels=LIMIT)
    assert (gray[0, 0], gray[-1, -1]) == (0, 255)
    assert (np.diff(gray.ravel().astype(int)) > 0).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float_tiff_with_non_finite_pixels_is_unsupported(bad: float) -> None:
    values = np.zeros((4, 5), np.float32)
    values[1, 1] = bad
    with pytest.raises(UnsupportedFormat, match="NaN or infinite"):
        read_mri(_float_tiff(values), max_pixels=LIMIT)


def test_jpeg_gray_is_close() -> None:
    pixels = np.full((16, 16), 128, np.uint8)
    pixels[4:12, 4:12] = 200

    out = read_mri(_pillow(pixels, "JPEG", quality=100), max_pixels=LIMIT)

    assert out.shape == (16, 16)
    assert int(np.abs(out.astype(int) - pixels).max()) <= 3


def test_the_limit_is_inclusive() -> None:
    pixels = np.zeros((10, 10), np.uint8)

    assert read_mri(_png(pixels), max_pixels=100).shape == (10, 10)
    with pytest.raises(ImageTooLarge) as err:
        read_mri(_png(pixels), max_pixels=99)
    assert err.value.status == 413
    assert err.value.size == (10, 10)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with one tiny (wrong) IDAT: never decodable."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0"))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def test_huge_dimensions_are_refused_from_the_header() -> None:
    data = _png_header_only(100_000, 100_000)
    assert len(data) < 100

    with pytest.raises(ImageTooLarge) as err:
        read_mri(data, max_pixels=LIMIT)

    assert err.value.pixels == 10_000_000_000


def test_other_formats_are_unsupported() -> None:
    pixels = np.zeros((4, 4), np.uint8)

    for fmt in ("GIF", "BMP"):
        with pytest.raises(UnsupportedFormat) as err:
            read_mri(_pillow(pixels, fmt), max_pixels=LIMIT)
        assert err.value.status == 415
        assert fmt in err.value.detail


# DICOM


def test_dicom_monochrome2_without_window_is_min_max() -> None:
    pixels = _ramp16()

    out = read_mri(_dicom(pixels), max_pixels=LIMIT)

    assert out.dtype == np.uint8
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out, stretch_to_uint8(pixels))
    assert out[0, 0] == 0
    assert out[-1, -1] == 255


def test_dicom_monochrome1_is_inverted() -> None:
    pixels = _ramp16()

    out = read_mri(_dicom(pixels, photometric="MONOCHROME1"), max_pixels=LIMIT)

    np.testing.assert_array_equal(out, 255 - stretch_to_uint8(pixels))
    assert out[0, 0] == 255


def test_dicom_rescale_then_window() -> None:
    # Stored 0..1100 step 100, slope 2, intercept -1000: values -1000..1200.
    stored = (np.arange(12, dtype=np.uint16) * 100).reshape(3, 4)
    values = stored.astype(np.float64) * 2 - 1000

    out = read_mri(_dicom(stored, slope=2, intercept=-1000, center=100, width=801), max_pixels=LIMIT)

    np.testing.assert_array_equal(out, window_to_uint8(values, 100, 801))
    # -300 and below are black, 500 and above white, in between linear.
    assert out.tolist() == [
        [0, 0, 0, 0],
        [32, 96, 160, 223],
        [255, 255, 255, 255],
    ]


def test_dicom_rescale_alone_does_not_change_a_min_max_stretch() -> None:
    pixels = _ramp16()

    plain = read_mri(_dicom(pixels), max_pixels=LIMIT)
    rescaled = read_mri(_dicom(pixels, slope=3, intercept=-1024), max_pixels=LIMIT)

    np.testing.assert_array_equal(plain, rescaled)


def test_dicom_multi_valued_window_uses_the_first() -> None:
    stored = (np.arange(12, dtype=np.uint16) * 100).reshape(3, 4)
    single = read_mri(_dicom(stored, center=500, width=201), max_pixels=LIMIT)

    ds = dcmread(io.BytesIO(_dicom(stored)))
    ds.WindowCenter = [500, 40]
    ds.WindowWidth = [201, 400]
    out = io.BytesIO()
    ds.save_as(out)

    np.testing.assert_array_equal(read_mri(out.getvalue(), max_pixels=LIMIT), single)


def test_dicom_multi_frame_gives_the_first_frame() -> None:
    first = _ramp16()
    second = np.full((3, 4), 7, np.uint16)

    out = read_mri(_dicom(np.stack([first, second]), frames=2), max_pixels=LIMIT)

    np.testing.assert_array_equal(out, stretch_to_uint8(first))


def test_dicom_too_large_is_refused_from_rows_and_columns() -> None:
    with pytest.raises(ImageTooLarge) as err:
        read_mri(_dicom(_ramp16()), max_pixels=11)

    assert err.value.size == (4, 3)


def test_dicom_without_pixel_data_is_unreadable() -> None:
    with pytest.raises(UnreadableImage) as err:
        read_mri(_dicom(_ramp16(), with_pixels=False), max_pixels=LIMIT)

    assert "no pixel data" in err.value.detail


# Bad inputs


def _bad_inputs() -> list[tuple[str, bytes]]:
    png = _png(np.arange(64, dtype=np.uint8).reshape(8, 8))
    dicom = _dicom(_ramp16())
    return [
        ("empty", b""),
        ("text", b"hello, this is not an image at all"),
        ("zeros", bytes(1000)),
        ("png signature only", png[:8]),
        ("truncated png", png[: len(png) // 2]),
        ("png header, no pixels", png[:33]),
        ("truncated jpeg", _pillow(np.zeros((32, 32), np.uint8), "JPEG")[:40]),
        ("truncated tiff", _pillow(np.zeros((32, 32), np.uint8), "TIFF")[:20]),
        ("dicom preamble only", bytes(128) + b"DICM"),
        ("truncated dicom", dicom[: len(dicom) - 10]),
        ("dicom header cut", dicom[:200]),
        ("dicom marker then garbage", bytes(128) + b"DICM" + b"\xff" * 300),
    ]


@pytest.mark.parametrize(("name", "data"), _bad_inputs(), ids=[n for n, _ in _bad_inputs()])
def test_bad_inputs_are_typed_unreadable_errors(name: str, data: bytes) -> None:
    with pytest.raises(UnreadableImage) as err:
        read_mri(data, max_pixels=LIMIT)

    assert err.value.status == 422
    assert err.value.detail
