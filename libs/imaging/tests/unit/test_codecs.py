import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from specimen_imaging.codecs import decode_image, encode_image, wide_to_uint16
from specimen_kit.errors import ImageTooLarge, InvalidParameter, UnreadableImage, UnsupportedFormat


def _save(img: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


_RGB = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)


class TestDecodeImage:
    @pytest.mark.parametrize("data", [b"", b"hello, not an image", b"GIF89a"])
    def test_garbage_is_unreadable(self, data):
        with pytest.raises(UnreadableImage):
            decode_image(data)

    @pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
    def test_truncated_file_is_unreadable(self, fmt):
        img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
        data = _save(img, fmt)
        with pytest.raises(UnreadableImage, match="truncated or corrupt"):
            decode_image(data[: len(data) // 2])

    def test_bomb_header_is_refused_before_decoding(self):
        with pytest.raises(ImageTooLarge, match="10000000000 pixels"):
            decode_image(_bomb_png(100_000, 100_000), max_pixels=40_000_000)

    def test_sixteen_bit_png_stays_sixteen_bit(self):
        arr = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
        decoded = decode_image(encode_image(arr, "png"))
        assert decoded.pixels.dtype == np.uint16 and np.array_equal(decoded.pixels, arr)

    def test_cmyk_jpeg_becomes_rgb(self):
        data = _save(Image.new("CMYK", (4, 3), (0, 255, 255, 0)), "JPEG")
        decoded = decode_image(data)
        assert decoded.mode == "CMYK" and decoded.pixels.shape == (3, 4, 3)
        assert decoded.pixels[0, 0, 0] > 200 and decoded.pixels[0, 0, 1] < 60

    def test_palette_gif_becomes_rgb(self):
        img = Image.fromarray(_RGB).convert("P", palette=Image.Palette.ADAPTIVE)
        decoded = decode_image(_save(img, "GIF"))
        assert decoded.format == "gif" and decoded.mode == "P" and decoded.pixels.shape == (6, 8, 3)

    def test_animated_gif_gives_first_frame(self):
        frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
        data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:])
        assert decode_image(data).pixels[0, 0].tolist() == [255, 0, 0]

    def test_exif_orientation_is_applied(self):
        img = Image.new("RGB", (6, 3), (0, 0, 0))
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90° clockwise to display
        decoded = decode_image(_save(img, "JPEG", exif=exif.tobytes()))
        assert decoded.pixels.shape == (6, 3, 3)

    def test_one_pixel_image(self):
        assert decode_image(encode_image(np.array([[7]], np.uint8), "png")).pixels.tolist() == [[7]]

    @pytest.mark.parametrize("fmt", ["png", "gif", "tiff", "bmp", "webp"])
    def test_lossless_round_trip(self, fmt):
        data = encode_image(_RGB, fmt)
        decoded = decode_image(data)
        assert decoded.format == fmt
        if fmt != "gif":
            assert np.array_equal(decoded.pixels, _RGB)


class TestEncodeImage:
    def test_alpha_is_flattened_on_white_for_jpeg(self):
        rgba = np.zeros((8, 8, 4), np.uint8)
        decoded = decode_image(encode_image(rgba, "jpeg"))
        assert decoded.pixels.shape == (8, 8, 3) and decoded.pixels.min() >= 250

    def test_png_keeps_alpha(self):
        rgba = np.zeros((2, 2, 4), np.uint8)
        rgba[0, 0, 3] = 255
        assert decode_image(encode_image(rgba, "png")).pixels[..., 3].tolist() == [[255, 0], [0, 0]]

    def test_unknown_format_is_named(self):
        with pytest.raises(InvalidParameter, match="format='heic'"):
            encode_image(_RGB, "heic")

    @pytest.mark.parametrize("fmt", ["jpeg", "webp"])
    def test_lower_quality_gives_a_smaller_file(self, fmt):
        noisy = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        assert len(encode_image(noisy, fmt, quality=10)) < len(encode_image(noisy, fmt, quality=90))

    def test_webp_without_quality_is_lossless(self):
        noisy = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
        assert np.array_equal(decode_image(encode_image(noisy, "webp")).pixels, noisy)

    @pytest.mark.parametrize("quality", [0, 101, True, 50.0])
    def test_quality_out_of_range_is_named(self, quality):
        with pytest.raises(InvalidParameter, match="quality="):
            encode_image(_RGB, "jpeg", quality=quality)


class TestWidePixels:
    """Issue 9: a float TIFF with negative values was refused by segment and accepted by
    classify; both decode 32-bit pixels by this one rule now."""

    def test_whole_numbers_in_range_keep_their_values(self):
        values = np.array([[0, 1, 65535]], np.int32)
        assert wide_to_uint16(values).tolist() == [[0, 1, 65535]]
        assert wide_to_uint16(values.astype(np.float32)).tolist() == [[0, 1, 65535]]

    @pytest.mark.parametrize("values", [[[-0.5, 0.0, 0.5]], [[0.0, 0.25, 1.0]], [[0, 70000, 140000]]])
    def test_other_ranges_are_stretched_onto_sixteen_bits(self, values):
        out = wide_to_uint16(np.array(values, np.float32))
        assert out.dtype == np.uint16 and out.min() == 0 and out.max() == 65535
        assert (np.diff(out.ravel().astype(int)) > 0).all()

    def test_flat_out_of_range_image_is_zeros(self):
        assert wide_to_uint16(np.full((2, 2), -3.0, np.float32)).tolist() == [[0, 0], [0, 0]]

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_non_finite_pixels_are_refused(self, bad):
        with pytest.raises(UnsupportedFormat, match="NaN or infinite"):
            wide_to_uint16(np.array([[0.0, bad]], np.float32))

    def test_a_float_tiff_with_negatives_decodes(self):
        values = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
        buffer = io.BytesIO()
        Image.fromarray(values, mode="F").save(buffer, "TIFF")
        decoded = decode_image(buffer.getvalue())
        assert decoded.pixels.dtype == np.uint16 and decoded.pixels.shape == (8, 8)
        assert decoded.pixels[0, 0] == 0 and decoded.pixels[-1, -1] == 65535


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _with_chunks(png: bytes, *chunks: bytes) -> bytes:
    """``png`` with ``chunks`` inserted right after its IHDR (8 + 25 bytes)."""
    return png[:33] + b"".join(chunks) + png[33:]


def _pillow_only(data: bytes, monkeypatch) -> object:
    from specimen_imaging import codecs

    with monkeypatch.context() as patched:
        patched.setattr(codecs, "_plain_png", lambda _: False)
        return decode_image(data)


class TestPlainPngThroughOpenCV:
    """A plain 8-bit gray or RGB PNG is decoded by OpenCV (less CPU): the same pixels, format
    and mode as Pillow's; anything else still goes through Pillow."""

    @pytest.mark.parametrize("seed", range(6))
    @pytest.mark.parametrize("mode", ["L", "RGB"])
    def test_the_same_pixels_as_pillow(self, seed, mode, monkeypatch):
        from specimen_imaging import codecs

        rng = np.random.default_rng(seed)
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        shape = (h, w) if mode == "L" else (h, w, 3)
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        pixels[: h // 2] //= 7  # runs and ramps as well as noise: every PNG filter gets used
        for png in (
            _save(Image.fromarray(pixels, mode), "PNG", compress_level=int(rng.integers(0, 10))),
            encode_image(pixels, "png"),  # OpenCV's own encoder
            _with_chunks(_save(Image.fromarray(pixels, mode), "PNG"),
                         _chunk(b"gAMA", struct.pack(">I", 22000)), _chunk(b"sRGB", b"\x00"),
                         _chunk(b"pHYs", struct.pack(">IIB", 3780, 3780, 1))),
        ):
            assert codecs._plain_png(png)
            expected = _pillow_only(png, monkeypatch)
            got = decode_image(png)
            assert (got.format, got.mode) == (expected.format, expected.mode) == ("png", mode)
            assert got.pixels.dtype == expected.pixels.dtype and np.array_equal(got.pixels, expected.pixels)

    def test_other_pngs_go_through_pillow(self):
        from specimen_imaging import codecs

        gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
        plain = _save(Image.fromarray(gray, "L"), "PNG")
        others = [
            _save(Image.fromarray(gray, "L"), "PNG", transparency=3),  # tRNS
            _save(Image.fromarray(gray.astype(np.uint16) * 999), "PNG"),  # 16-bit
            _save(Image.fromarray(gray, "L").convert("P"), "PNG"),  # palette
            _save(Image.fromarray(np.dstack([gray] * 4), "RGBA"), "PNG"),
            _with_chunks(plain, _chunk(b"tEXt", b"Raw profile type exif\x00x")),  # orientation may hide there
            _with_chunks(plain, _chunk(b"eXIf", b"MM\x00*")),
            plain[:-30],  # truncated: no IEND
        ]
        assert codecs._plain_png(plain)
        assert not any(codecs._plain_png(data) for data in others)

    def test_a_corrupt_plain_png_gets_pillows_answer(self, monkeypatch):
        gray = np.random.default_rng(1).integers(0, 256, (40, 40), dtype=np.uint8)
        png = bytearray(_save(Image.fromarray(gray, "L"), "PNG", compress_level=0))
        png[60:70] = b"\xff" * 10  # inside the IDAT: its CRC fails, OpenCV refuses it
        with pytest.raises(UnreadableImage) as pillow:
            _pillow_only(bytes(png), monkeypatch)
        with pytest.raises(UnreadableImage) as ours:
            decode_image(bytes(png))
        assert str(ours.value) == str(pillow.value)
