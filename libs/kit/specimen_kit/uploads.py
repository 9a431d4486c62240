"""The image input of the image routes: the three ways an image (or several) arrives.

A route accepts its file fields and parameters as ``multipart/form-data`` (files as file parts
or base64 text, parameters as further form fields), as JSON (``{"image": "<base64 or
data:image/...;base64,...>", ...parameters}``, a list of such strings for a many-file field),
or as the raw bytes of one image with an ``image/*`` content type. Query-string parameters apply
to all three (body fields win). Only bytes come out of here: decoding belongs to the service.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from specimen_kit.errors import (
    InvalidParameter,
    MalformedJson,
    UnreadableImage,
    UnsupportedFormat,
    UnsupportedMediaType,
)

MAX_FORM_FIELDS = 100
_DATA_URL = re.compile(r"^data:(?P<type>[^;,]*)(?P<params>(;[^;,]*)*),", re.IGNORECASE)


@dataclass(frozen=True)
class UploadedFile:
    """One file of the request: its bytes and the name the client gave it (if any)."""

    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class Payload:
    """What the request carried: files by field name (in order) and the other named fields."""

    files: dict[str, list[UploadedFile]] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)

    def first(self, name: str) -> bytes | None:
        """The bytes of the first file of field ``name``, None when there is none."""
        files = self.files.get(name)
        return files[0].data if files else None


@dataclass(frozen=True)
class FileFields:
    """The file fields a route reads: ``single`` take one file, ``many`` up to ``max_files``.

    ``raw`` is the field that a raw ``image/*`` body fills.
    """

    single: tuple[str, ...] = ("image",)
    many: tuple[str, ...] = ()
    max_files: int = 1
    raw: str = "image"

    @property
    def how(self) -> str:
        name = (*self.single, *self.many)[0]
        value = '"<base64>"' if name in self.single else '["<base64>", ...]'
        return (f"send multipart/form-data with a file field '{name}', JSON {{\"{name}\": {value}}}, "
                "or the image bytes with an image/* content type")


def decode_base64(where: str, text: Any) -> bytes:
    """The bytes of a base64 text or a ``data:…;base64,`` URL of any type (an archive, a table);
    :func:`decode_base64_image` is the one for images."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameter(f"{where} must be base64 text or a data URL")
    text = text.strip()
    if text.startswith("data:"):
        head, _, text = text.partition(",")
        if ";base64" not in head:
            raise InvalidParameter(f"{where} is a data URL without ';base64'")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidParameter(f"{where} is not valid base64: {error}") from error


def decode_base64_image(name: str, text: Any) -> bytes:
    """The bytes of field ``name``: plain (or URL-safe) base64, or an ``image/*`` data URL."""
    if not isinstance(text, str):
        raise InvalidParameter(f"{name} must be a base64 string or a data URL, got {type(text).__name__}")
    text = text.strip()
    found = _DATA_URL.match(text)
    if found:
        media_type = found.group("type").strip().lower() or "text/plain"
        if not media_type.startswith("image/") and media_type != "application/dicom":
            raise UnsupportedFormat(f"{name} is a data URL of type {media_type}; send an image/* data URL")
        if "base64" not in found.group("params").lower():
            raise UnreadableImage(f"{name} is a data URL without ';base64'; encode the image in base64")
        text = text[found.end() :]
    elif text.startswith("data:"):
        raise UnreadableImage(f"{name} is a malformed data URL; use data:image/png;base64,<data>")
    text = re.sub(r"\s+", "", text)
    if not text:
        raise UnreadableImage(f"{name} is empty (0 bytes)")
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise UnreadableImage(f"{name} is not valid base64: {err}") from err


async def bounded_form(request: Request, *, max_files: int, max_fields: int, files_limit: int) -> FormData:
    """``request.form`` stopped at ``max_files`` file parts and ``max_fields`` fields, a request
    past them answered ``invalid-parameter`` naming the limit.

    Starlette stops at its bound with a bare 400 naming that bound; ``files_limit`` is the limit
    the route documents (its bound less what it lets through for its other parts or for a count
    it checks itself).
    """
    try:
        return await request.form(max_files=max_files, max_fields=max_fields)
    except HTTPException as error:
        detail = str(error.detail)
        if detail.startswith("Too many files"):
            files = "file" if files_limit == 1 else "files"
            raise InvalidParameter(f"the request holds more than {files_limit} {files}; send at most "
                                   f"{files_limit} in one request") from error
        if detail.startswith("Too many fields"):
            raise InvalidParameter(f"the request holds more than {max_fields} form fields; send at "
                                   f"most {max_fields}") from error
        raise


def _query_fields(request: Request) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        fields[key] = values if len(values) > 1 else values[0]
    return fields


def _check_count(name: str, count: int, spec: FileFields) -> None:
    limit = 1 if name in spec.single else spec.max_files
    if count > limit:
        raise InvalidParameter(f"{name} holds {count} files; send at most {limit}")


async def _multipart(request: Request, spec: FileFields) -> Payload:
    # One over the limit is let through so that _check_count names the field and its limit.
    max_files = len(spec.single) + len(spec.many) * spec.max_files + 1
    form = await bounded_form(request, max_files=max_files, max_fields=MAX_FORM_FIELDS + max_files,
                              files_limit=spec.max_files)
    files: dict[str, list[UploadedFile]] = {}
    fields = _query_fields(request)
    for key in form:
        values = form.getlist(key)
        if key in spec.single or key in spec.many:
            _check_count(key, len(values), spec)
            files[key] = [UploadedFile(await value.read(), value.filename) if isinstance(value, UploadFile)
                          else UploadedFile(decode_base64_image(key, value)) for value in values]
            continue
        texts = [v for v in values if isinstance(v, str)]
        if len(texts) != len(values):
            raise InvalidParameter(f"{key} must be a form field, not a file")
        fields[key] = texts if len(texts) > 1 else texts[0]
    return Payload(files, fields)


async def _json(request: Request, spec: FileFields) -> Payload:
    raw = await request.body()
    if not raw.strip():
        raise UnreadableImage(f"the request body is empty; {spec.how}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedJson(f"The request body is not valid JSON: {err}") from err
    if not isinstance(body, dict):
        raise InvalidParameter(f"the JSON body must be an object, got {type(body).__name__}")
    files: dict[str, list[UploadedFile]] = {}
    for name in (*spec.single, *spec.many):
        value = body.pop(name, None)
        if value is None:
            continue
        texts = value if isinstance(value, list) and name in spec.many else [value]
        _check_count(name, len(texts), spec)
        files[name] = [UploadedFile(decode_base64_image(f"{name}[{i}]" if len(texts) > 1 else name, text))
                       for i, text in enumerate(texts)]
    return Payload(files, {**_query_fields(request), **body})


async def read_payload(request: Request, spec: FileFields) -> Payload:
    """The request's files and fields, whichever of the three ways they came."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _multipart(request, spec)
    if content_type == "application/json" or content_type.endswith("+json"):
        return await _json(request, spec)
    if content_type.startswith("image/") or content_type in ("", "application/octet-stream",
                                                             "application/dicom"):
        raw = await request.body()
        if not raw:
            raise UnreadableImage(f"the request body is empty; {spec.how}")
        return Payload({spec.raw: [UploadedFile(raw)]}, _query_fields(request))
    raise UnsupportedMediaType(f"content type {content_type} is not read here; {spec.how}")


def require_file(payload: Payload, name: str, spec: FileFields) -> bytes:
    """The first file of ``name``; :class:`UnreadableImage` naming how to send it when missing."""
    data = payload.first(name)
    if data is None:
        raise UnreadableImage(f"the request has no field {name!r}; {spec.how}")
    return data


def request_body_doc(params_schema: dict[str, Any], spec: FileFields) -> dict[str, Any]:
    """``openapi_extra`` describing the three ways to send the files and the parameters."""
    props = dict(params_schema.get("properties", {}))
    json_props: dict[str, Any] = {name: {"type": "string", "description": "Base64 or data URL."}
                                  for name in spec.single}
    json_props |= {name: {"type": "array", "maxItems": spec.max_files,
                          "items": {"type": "string", "description": "Base64 or data URL."}}
                   for name in spec.many}
    form_props: dict[str, Any] = {name: {"type": "string", "format": "binary"} for name in spec.single}
    form_props |= {name: {"type": "array", "maxItems": spec.max_files,
                          "items": {"type": "string", "format": "binary"}} for name in spec.many}
    required = [spec.single[0]] if spec.single else list(spec.many[:1])
    json_schema = {**params_schema, "properties": {**json_props, **props}, "required": required}
    form_schema = {**params_schema, "properties": {**form_props, **props}, "required": required}
    content: dict[str, Any] = {
        "application/json": {"schema": json_schema},
        "multipart/form-data": {"schema": form_schema},
    }
    if spec.raw in (*spec.single, *spec.many):
        content["image/*"] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": content},
            "parameters": query_parameters_doc(params_schema)}


def query_parameters_doc(params_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameters of ``params_schema`` as OpenAPI query parameters.

    They are read from the query string too (the only place a raw ``image/*`` body leaves
    them); saying so also tells the kit's unknown-parameter check
    (:mod:`specimen_kit.query_parameters`) that the route reads them.
    """
    definitions = params_schema.get("$defs", {})
    parameters = []
    for name, schema in params_schema.get("properties", {}).items():
        reference = str(schema.get("$ref", ""))
        if reference.startswith("#/$defs/"):
            # The parameter stands alone in the document: a reference into the model's own
            # definitions would point nowhere.
            schema = definitions[reference.removeprefix("#/$defs/")]
        parameters.append({
            "name": name, "in": "query", "required": False, "schema": _within_a_url(schema),
            "description": (schema.get("description") or name)
            + " (also a form or JSON field; the body wins)",
        })
    return parameters


QUERY_MAX_CHARS = 500
QUERY_MAX_ITEMS = 100
"""What the query string is documented to carry of one parameter: servers refuse a request line
past a few KiB (uvicorn: 16 KiB, as a plain-text 400 no app sees), so longer texts and lists
belong in the body."""


def _within_a_url(schema: Any) -> Any:
    """``schema`` with its length limits lowered to what fits a URL (:data:`QUERY_MAX_CHARS`,
    :data:`QUERY_MAX_ITEMS`), in every variant."""
    if isinstance(schema, list):
        return [_within_a_url(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: _within_a_url(value) for key, value in schema.items()}
    if "maxLength" in bounded or bounded.get("type") == "string":
        bounded["maxLength"] = min(bounded.get("maxLength", QUERY_MAX_CHARS), QUERY_MAX_CHARS)
    if "maxItems" in bounded or bounded.get("type") == "array":
        bounded["maxItems"] = min(bounded.get("maxItems", QUERY_MAX_ITEMS), QUERY_MAX_ITEMS)
    return bounded
