"""The bad-input corpus (issue 9): hostile bodies, files and parameters, as data.

Each :class:`BadInput` is a short recipe, built at test time (no binaries are committed), and
says which image routes it applies to and what a correct answer is: ``STRICT`` cases must be
refused with a 4xx problem+json; ``TOLERATED`` ones (odd but valid images, hostile file names)
may be served, but never with a 5xx, and a refusal must still be problem+json. The suite test
``tests/suite/test_bad_input_corpus.py`` sends every case to every route it applies to, through
the gateway. Add a case here when a new hole is found; the route list is :data:`ROUTES`.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

STRICT = "4xx"
TOLERATED = "not 5xx"


@dataclass(frozen=True)
class Route:
    """An image route: where the file goes, what else it needs, which numbers it reads."""

    name: str
    path: str
    file_field: str = "image"
    fields: dict[str, str] = field(default_factory=dict)
    integer: str | None = None
    number: str | None = None


ROUTES = (
    Route("threshold", "/api/v1/segment/threshold", integer="min_area", number="quantile"),
    Route("superpixels", "/api/v1/segment/superpixels", integer="n_segments", number="compactness"),
    Route("objects", "/api/v1/segment/objects", integer="min_area", number="fade_background"),
    Route("background", "/api/v1/segment/background", integer="iterations", number="quantile"),
    Route("vignetting", "/api/v1/segment/vignetting", number="sigma"),
    Route("convert", "/api/v1/segment/convert"),
    Route("images", "/api/v1/images"),
    Route("mri", "/api/v1/classify/mri"),
    Route("plankton", "/api/v1/classify/plankton", integer="min_area", number="quantile"),
    Route("scans", "/api/v1/scans", fields={"patient_gender": "female"}),
)
IMAGE_ROUTES = tuple(route.name for route in ROUTES)

Request = dict[str, Any]
"""Keyword arguments of ``httpx.Client.post`` (``files``, ``data``, ``json``, ``content``…)."""
Recipe = Callable[[Route], Request | None]
"""Builds the request for a route, or ``None`` when the case does not apply to it."""


@dataclass(frozen=True)
class BadInput:
    name: str
    recipe: Recipe
    expect: str = STRICT
    routes: tuple[str, ...] = IMAGE_ROUTES


# -- images, built small -------------------------------------------------------------------------

def discs(size: int = 64) -> np.ndarray:
    """A gray frame with two bright discs: decodable everywhere, segmentable."""
    yy, xx = np.mgrid[:size, :size]
    pixels = np.full((size, size), 30, np.uint8)
    pixels[(yy - size // 3) ** 2 + (xx - size // 3) ** 2 < (size // 8) ** 2] = 220
    pixels[(yy - 2 * size // 3) ** 2 + (xx - 2 * size // 3) ** 2 < (size // 6) ** 2] = 200
    return pixels


def encode(image: Image.Image | np.ndarray, fmt: str, **options: Any) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png() -> bytes:
    return encode(discs(), "PNG")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int, bit_depth: int = 8, colour: int = 0) -> bytes:
    """A tiny PNG whose header claims ``width x height``: a decompression bomb."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def gif_claiming(width: int, height: int) -> bytes:
    frame = encode(np.zeros((2, 2), np.uint8), "GIF")
    return frame[:6] + struct.pack("<HH", width, height) + frame[10:]


def tiff_claiming(width: int, height: int) -> bytes:
    """A little-endian TIFF whose tags claim ``width x height`` with a 4-byte strip."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8 + 2 + 12 * 8 + 4), (277, 3, 1, 1), (279, 4, 1, 4)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) for tag, kind, count, value in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 4


def webp_claiming(width: int, height: int) -> bytes:
    """An extended WebP (VP8X) whose canvas claims ``width x height`` (max 16384²)."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (
        (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))
    body = b"WEBP" + vp8x + encode(np.zeros((2, 2, 3), np.uint8), "WEBP")[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def bmp_claiming(width: int, height: int) -> bytes:
    small = bytearray(encode(np.zeros((2, 2, 3), np.uint8), "BMP"))
    small[18:26] = struct.pack("<ii", width, height)
    return bytes(small)


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(discs(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def float_tiff(values: np.ndarray) -> bytes:
    return encode(Image.fromarray(values.astype(np.float32), mode="F"), "TIFF")


def multi_frame(fmt: str) -> bytes:
    frames = [Image.fromarray(discs()), Image.fromarray(255 - discs())]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:])


def dicom_without_pixels() -> bytes:
    """A DICOM preamble and a few tags, with no Pixel Data element."""
    tag = struct.pack("<HH2sH", 0x0002, 0x0010, b"UI", 20) + b"1.2.840.10008.1.2.1\x00"
    return bytes(128) + b"DICM" + tag + struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", 4) + b"Anon"


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


# -- how a payload travels -------------------------------------------------------------------------

def upload(data: bytes, filename: str = "x.png", media_type: str = "image/png") -> Recipe:
    """The payload as the route's multipart file field."""
    def build(route: Route) -> Request:
        return {"files": {route.file_field: (filename, data, media_type)}, "data": route.fields}
    return build


def raw(content: bytes, content_type: str | None) -> Recipe:
    """The payload as the raw body (the route's other fields in the query string)."""
    def build(route: Route) -> Request:
        headers = {"content-type": content_type} if content_type is not None else {}
        return {"content": content, "headers": headers, "params": route.fields}
    return build


def json_text(text: str | bytes) -> Recipe:
    def build(route: Route) -> Request:
        body = text.encode() if isinstance(text, str) else text
        return {"content": body, "headers": {"content-type": "application/json"},
                "params": route.fields}
    return build


def json_image(value: Any) -> Recipe:
    """JSON whose ``image`` field is ``value`` (the library's upload reads ``file``)."""
    def build(route: Route) -> Request:
        key = "file" if route.file_field == "file" else "image"
        return {"json": {key: value, **route.fields}}
    return build


def with_fields(**fields: Any) -> Recipe:
    """A good image with extra multipart fields."""
    def build(route: Route) -> Request:
        return {"files": {route.file_field: ("discs.png", png(), "image/png")},
                "data": {**route.fields, **fields}}
    return build


def integer_as(value: str) -> Recipe:
    """A good image with the route's integer parameter set to ``value`` (if it has one)."""
    def build(route: Route) -> Request | None:
        return None if route.integer is None else with_fields(**{route.integer: value})(route)
    return build


def number_as(value: str) -> Recipe:
    def build(route: Route) -> Request | None:
        return None if route.number is None else with_fields(**{route.number: value})(route)
    return build


def json_number_as(value: Any) -> Recipe:
    """JSON with a good image and the route's number parameter set to the JSON ``value``."""
    def build(route: Route) -> Request | None:
        if route.number is None or route.file_field != "image":
            return None
        image = base64.b64encode(png()).decode()
        return {"json": {"image": image, route.number: value, **route.fields}}
    return build


def json_number_text(literal: str) -> Recipe:
    """Like :func:`json_number_as`, with the number written as JSON text (``1e400``)."""
    def build(route: Route) -> Request | None:
        if route.number is None or route.file_field != "image":
            return None
        fields = json.dumps({"image": base64.b64encode(png()).decode(), **route.fields})
        text = fields[:-1] + f', "{route.number}": {literal}}}'
        return {"content": text.encode(), "headers": {"content-type": "application/json"}}
    return build


def chunked(total: int, content_type: str) -> Recipe:
    """A body over the limit, streamed without a Content-Length."""
    def build(route: Route) -> Request:
        def stream() -> Iterator[bytes]:
            for _ in range(total // 8192):
                yield b"\x00" * 8192
        return {"content": stream(), "headers": {"content-type": content_type},
                "params": route.fields}
    return build


def query(**params: str) -> Recipe:
    def build(route: Route) -> Request:
        return {"files": {route.file_field: ("discs.png", png(), "image/png")},
                "data": route.fields, "params": params}
    return build


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(8, int(len(data) * keep))]


def _bad_crc() -> bytes:
    data = bytearray(png())
    data[29] ^= 0xFF  # inside IHDR's CRC
    return bytes(data)


LONG = "x" * 100_000
CASES: tuple[BadInput, ...] = (
    # decompression bombs: a few bytes that claim billions of pixels (413 from the header)
    BadInput("png bomb 100000x100000", upload(png_claiming(100_000, 100_000))),
    BadInput("png bomb 2^31-1 wide", upload(png_claiming(2**31 - 1, 1))),
    BadInput("png bomb 16-bit RGBA 60000x60000", upload(png_claiming(60_000, 60_000, 16, 6))),
    BadInput("png zero width", upload(png_claiming(0, 10))),
    BadInput("gif bomb 65535x65535", upload(gif_claiming(65_535, 65_535), "b.gif", "image/gif")),
    BadInput("tiff bomb 100000x100000", upload(tiff_claiming(100_000, 100_000), "b.tif",
                                               "image/tiff")),
    BadInput("webp bomb 16384x16384", upload(webp_claiming(16_384, 16_384), "b.webp",
                                             "image/webp")),
    BadInput("bmp bomb 60000x60000", upload(bmp_claiming(60_000, 60_000), "b.bmp", "image/bmp")),
    BadInput("bmp negative height", upload(bmp_claiming(2, -2**31), "b.bmp", "image/bmp"),
             expect=TOLERATED),
    BadInput("jpeg bomb 65500x65500", upload(jpeg_claiming(65_500, 65_500), "b.jpg",
                                             "image/jpeg")),
    BadInput("png bomb as raw body", raw(png_claiming(100_000, 100_000), "image/png")),
    BadInput("png bomb as base64 JSON", json_image(_b64(png_claiming(100_000, 100_000)))),
    # truncated or corrupt files of every format
    BadInput("truncated png", upload(_truncated(png()))),
    BadInput("png signature only", upload(png()[:8])),
    BadInput("png with a bad CRC", upload(_bad_crc()), expect=TOLERATED),
    BadInput("truncated jpeg", upload(_truncated(encode(discs(), "JPEG"), 0.3), "t.jpg",
                                      "image/jpeg")),
    BadInput("jpeg SOI only", upload(b"\xff\xd8", "t.jpg", "image/jpeg")),
    BadInput("truncated gif", upload(_truncated(encode(discs(), "GIF"), 0.3), "t.gif",
                                     "image/gif")),
    BadInput("truncated tiff", upload(_truncated(encode(discs(), "TIFF")), "t.tif",
                                      "image/tiff")),
    BadInput("truncated webp", upload(_truncated(encode(discs(), "WEBP")), "t.webp",
                                      "image/webp")),
    BadInput("truncated bmp", upload(_truncated(encode(discs(), "BMP")), "t.bmp", "image/bmp")),
    BadInput("dicom marker then garbage", upload(bytes(128) + b"DICM" + b"\xff" * 300, "t.dcm",
                                                 "application/dicom")),
    BadInput("dicom without pixel data", upload(dicom_without_pixels(), "t.dcm",
                                                "application/dicom")),
    BadInput("empty file", upload(b"")),
    BadInput("text as png", upload(b"hello, world")),
    BadInput("zip archive", upload(b"PK\x03\x04" + bytes(60), "a.zip", "application/zip")),
    BadInput("pdf", upload(b"%PDF-1.7\n" + bytes(60), "a.pdf", "application/pdf")),
    BadInput("svg", upload(b'<svg xmlns="http://www.w3.org/2000/svg"/>', "a.svg",
                           "image/svg+xml")),
    BadInput("random bytes", upload(bytes(range(256)) * 4, "r.bin", "application/octet-stream")),
    # odd but valid images: served or refused, never a 500
    BadInput("16-bit gray png", upload(encode(discs().astype(np.uint16) * 257, "PNG")),
             expect=TOLERATED),
    BadInput("CMYK jpeg", upload(encode(Image.fromarray(discs()).convert("CMYK"), "JPEG"),
                                 "c.jpg", "image/jpeg"), expect=TOLERATED),
    BadInput("palette png with transparency",
             upload(encode(Image.fromarray(discs()).convert("P"), "PNG", transparency=0)),
             expect=TOLERATED),
    BadInput("1-bit png", upload(encode(Image.fromarray(discs() > 100), "PNG")),
             expect=TOLERATED),
    BadInput("LA png", upload(encode(Image.fromarray(discs()).convert("LA"), "PNG")),
             expect=TOLERATED),
    BadInput("RGBA png fully transparent",
             upload(encode(np.zeros((64, 64, 4), np.uint8), "PNG")), expect=TOLERATED),
    BadInput("float32 tiff", upload(float_tiff(discs() / 255.0), "f.tif", "image/tiff"),
             expect=TOLERATED),
    BadInput("float32 tiff with negatives", upload(float_tiff(discs() / 255.0 - 0.5), "f.tif",
                                                   "image/tiff"), expect=TOLERATED),
    BadInput("float32 tiff with NaN", upload(float_tiff(np.where(discs() > 100, np.nan, 0.0)),
                                             "f.tif", "image/tiff"), expect=TOLERATED),
    BadInput("float32 tiff with inf", upload(float_tiff(np.where(discs() > 100, np.inf, 0.0)),
                                             "f.tif", "image/tiff"), expect=TOLERATED),
    BadInput("int32 tiff", upload(encode(Image.fromarray(discs().astype(np.int32) * 1000, "I"),
                                         "TIFF"), "i.tif", "image/tiff"), expect=TOLERATED),
    BadInput("multi-frame gif", upload(multi_frame("GIF"), "m.gif", "image/gif"),
             expect=TOLERATED),
    BadInput("multi-frame tiff", upload(multi_frame("TIFF"), "m.tif", "image/tiff"),
             expect=TOLERATED),
    BadInput("1x1 png", upload(encode(np.zeros((1, 1), np.uint8), "PNG")), expect=TOLERATED),
    BadInput("1x2000 png", upload(encode(np.zeros((1, 2000), np.uint8), "PNG")),
             expect=TOLERATED),
    BadInput("flat black png", upload(encode(np.zeros((64, 64), np.uint8), "PNG")),
             expect=TOLERATED),
    BadInput("progressive jpeg", upload(encode(discs(), "JPEG", progressive=True), "p.jpg",
                                        "image/jpeg"), expect=TOLERATED),
    # nested and huge JSON
    BadInput("JSON arrays 10000 deep", json_text(nested(10_000))),
    BadInput("JSON objects 10000 deep", json_text('{"a":' * 10_000 + "1" + "}" * 10_000)),
    BadInput("JSON image nested 1000 deep", json_text('{"image": ' + nested(1000) + "}")),
    BadInput("JSON 100000 keys", json_text(json.dumps({f"k{i}": 0 for i in range(100_000)}))),
    BadInput("JSON 5000 keys", json_text(json.dumps({f"k{i}": 0 for i in range(5_000)}))),
    BadInput("JSON top-level array", json_text("[1, 2, 3]")),
    BadInput("JSON top-level string", json_text('"data:image/png;base64,"')),
    BadInput("JSON empty object", json_text("{}")),
    BadInput("JSON malformed", json_text('{"image": ')),
    BadInput("JSON trailing garbage", json_text('{"image": "x"} trailing')),
    BadInput("JSON NaN literal", json_text('{"image": NaN}')),
    BadInput("JSON invalid UTF-8", json_text(b'{"image": "\xff\xfe"}')),
    BadInput("JSON with a BOM", json_text("\ufeff" + json.dumps({"image": _b64(png())})),
             expect=TOLERATED),
    BadInput("JSON image as a number", json_image(12345)),
    BadInput("JSON image as null", json_image(None)),
    BadInput("JSON image as an object", json_image({"data": _b64(png())})),
    BadInput("JSON image as a list", json_image([_b64(png())])),
    # bad base64
    BadInput("base64 cut mid-quantum", json_image(_b64(png())[:-1])),
    BadInput("base64 with extra padding", json_image(_b64(png()).rstrip("=") + "==="),
             expect=TOLERATED),
    BadInput("base64 outside the alphabet", json_image("!!!not base64!!!")),
    BadInput("base64 empty", json_image("")),
    BadInput("base64 of text", json_image(_b64(b"hello, world"))),
    BadInput("data URL of text/plain", json_image("data:text/plain;base64," + _b64(png()))),
    BadInput("data URL of svg", json_image("data:image/svg+xml;base64," + _b64(b"<svg/>"))),
    BadInput("data URL without base64", json_image("data:image/png," + "%89PNG")),
    BadInput("data URL with nothing after the comma", json_image("data:image/png;base64,")),
    BadInput("base64 with embedded NUL", json_image(_b64(png())[:20] + "\x00" + _b64(png())[20:])),
    BadInput("base64 of a bomb in a data URL",
             json_image("data:image/png;base64," + _b64(png_claiming(100_000, 100_000)))),
    BadInput("base64 url-safe alphabet", json_image(base64.urlsafe_b64encode(png()).decode()),
             expect=TOLERATED),
    # wrong content types
    BadInput("text/plain body", raw(b"hello", "text/plain")),
    BadInput("application/xml body", raw(b"<image>abc</image>", "application/xml")),
    BadInput("multipart without boundary", raw(b"--x\r\n\r\n--x--", "multipart/form-data")),
    BadInput("multipart with a wrong boundary",
             raw(b"--other\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc\r\n"
                 b"--other--\r\n", "multipart/form-data; boundary=expected")),
    BadInput("image/png with a JSON body", raw(json.dumps({"image": _b64(png())}).encode(),
                                              "image/png")),
    BadInput("application/json with PNG bytes", raw(png(), "application/json")),
    BadInput("form-urlencoded image", raw(b"image=" + _b64(png()).encode(),
                                          "application/x-www-form-urlencoded")),
    BadInput("no content type", raw(png(), None), expect=TOLERATED),
    BadInput("empty image/png body", raw(b"", "image/png")),
    # The media type is image/png; garbage in its parameters is ignored, as HTTP servers do.
    BadInput("content type garbage", raw(png(), "image/png; charset=;;;="), expect=TOLERATED),
    BadInput("multipart without the image field", raw(b"--b\r\nContent-Disposition: form-data; "
                                                     b"name=\"other\"\r\n\r\nx\r\n--b--\r\n",
                                                     "multipart/form-data; boundary=b")),
    # hostile file names on a good image: stored or refused, never a 500
    BadInput("traversal file name", upload(png(), "../../etc/passwd"), expect=TOLERATED),
    BadInput("absolute file name", upload(png(), "/etc/passwd"), expect=TOLERATED),
    BadInput("windows traversal file name", upload(png(), "..\\..\\windows\\win.ini"),
             expect=TOLERATED),
    BadInput("file name with NUL", upload(png(), "a\x00.png"), expect=TOLERATED),
    BadInput("file name of 10000 characters", upload(png(), "n" * 10_000 + ".png"),
             expect=TOLERATED),
    BadInput("file name with CR LF", upload(png(), "a\r\nX-Injected: 1.png"), expect=TOLERATED),
    BadInput("file name with right-to-left override", upload(png(), "gnp.\u202eexe.png"),
             expect=TOLERATED),
    BadInput("empty file name", upload(png(), ""), expect=TOLERATED),
    # bodies over the limit, streamed
    BadInput("chunked image/png over the limit", chunked(1_048_576, "image/png")),
    BadInput("chunked JSON over the limit", chunked(1_048_576, "application/json")),
    BadInput("chunked multipart over the limit",
             chunked(1_048_576, "multipart/form-data; boundary=b")),
    # hostile parameters next to a good image
    BadInput("negative integer", integer_as("-1")),
    BadInput("huge integer", integer_as(str(2**64))),
    BadInput("integer of 5000 digits", integer_as("9" * 5000)),
    BadInput("integer as float", integer_as("1.5")),
    BadInput("integer as true", integer_as("true")),
    BadInput("integer as empty string", integer_as("")),
    BadInput("integer in arabic-indic digits", integer_as("\u0661\u0662")),
    BadInput("integer in hex", integer_as("0x10")),
    BadInput("number NaN", number_as("nan")),
    BadInput("number inf", number_as("inf")),
    BadInput("number -inf", number_as("-inf")),
    BadInput("number 1e308", number_as("1e308")),
    BadInput("number -1e308", number_as("-1e308")),
    BadInput("number of 100000 characters", number_as(LONG)),
    BadInput("JSON number as true", json_number_as(True)),
    BadInput("JSON number as a string", json_number_as("0.5x")),
    BadInput("JSON number as a list", json_number_as([0.5])),
    BadInput("JSON number 1e400", json_number_text("1e400")),
    BadInput("JSON number -0.0e-400", json_number_text("-0.0e-400"), expect=TOLERATED),
    BadInput("unknown field", with_fields(colour="red")),
    BadInput("unknown field of 100000 characters", with_fields(**{"x" * 1000: LONG})),
    BadInput("output of an unknown format", with_fields(output="exe"),
             routes=("threshold", "superpixels", "objects", "background", "vignetting",
                     "convert")),
    BadInput("output empty", with_fields(output=""),
             routes=("threshold", "superpixels", "objects", "background", "vignetting",
                     "convert")),
    BadInput("unknown query parameter", query(colour="red")),
    BadInput("query string of 100000 characters", query(output=LONG[:8000])),
    BadInput("scan notes with NUL", with_fields(notes="a\x00b"), routes=("scans",)),
    BadInput("scan hospital of 100000 characters", with_fields(hospital=LONG),
             routes=("scans",)),
    BadInput("scan gender in unicode look-alike", with_fields(patient_gender="fem\u0430le"),
             routes=("scans",)),
    BadInput("image name of 100000 characters", with_fields(name=LONG), routes=("images",)),
)
