"""The gateway's ``/openapi.json`` obeys the conventions of ``shared/API.md`` that a document
can show (issue 10: "enforced by tests that walk the OpenAPI document, not by hope").

Each convention is one check of one operation, returning what is wrong (empty: nothing). A
test per convention runs its check on every operation of the suite's document, so a new route
that breaks a convention fails at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.suite

Operation = tuple[str, str, dict[str, Any]]  # (METHOD, path, operation object)

PROBLEM_JSON = "application/problem+json"
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# Names of moments: created_at, updated_at, created_after, created_before, expires_at, ...
MOMENT_NAME = re.compile(r"(?:^|_)(?:at|after|before)$")
# A path that names its own file format (``…/roc.png``) needs no ``output``.
FILE_SUFFIX = re.compile(r"\.[a-z0-9]+$")
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# Schema keys whose object members are names of fields (everything else nests schemas).
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")



# --- reading the document -------------------------------------------------------------------

def _resolve(document: dict[str, Any], schema: Any) -> Any:
    """``schema`` with a top-level ``$ref`` into ``#/components/schemas`` followed."""
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 20:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
        seen += 1
    return schema


def _variants(document: dict[str, Any], schema: Any) -> Iterator[dict[str, Any]]:
    """``schema`` and, through ``anyOf``/``oneOf``/``allOf``, every schema it may be."""
    schema = _resolve(document, schema)
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("anyOf", "oneOf", "allOf"):
        for member in schema.get(key) or ():
            yield from _variants(document, member)


def _properties(document: dict[str, Any], schema: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for variant in _variants(document, schema):
        found.update(variant.get("properties") or {})
    return found


def _query(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters") or () if p.get("in") == "query"}


def _is_binary(document: dict[str, Any], schema: Any) -> bool:
    for variant in _variants(document, schema):
        if variant.get("format") == "binary" or _is_binary(document, variant.get("items")):
            return True
    return False


def _success(operation: dict[str, Any]) -> dict[str, Any]:
    for status, response in sorted((operation.get("responses") or {}).items()):
        if str(status).startswith("2"):
            return dict(response.get("content") or {})
    return {}


def _bounds(document: dict[str, Any], parameter: dict[str, Any] | None) -> tuple[Any, Any]:
    if parameter is None:
        return None, None
    schema = next(_variants(document, parameter.get("schema")), {})
    return schema.get("minimum"), schema.get("maximum")


# --- the conventions: each returns what is wrong with one operation -------------------------

# File fields that are not an image: a ZIP of slices (scan imports) and the table beside it.
NOT_IMAGE_FILES = frozenset({"archive", "metadata"})


def takes_an_image(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    content = (operation.get("requestBody") or {}).get("content") or {}
    form = content.get("multipart/form-data", {}).get("schema")
    return "image/*" in content or any(
        _is_binary(document, prop) for name, prop in _properties(document, form).items()
        if name not in NOT_IMAGE_FILES)


def image_input(document: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """API.md, *Sending an image*: multipart field ``image``, JSON ``image``, raw ``image/*``."""
    if not takes_an_image(document, operation):
        return []
    content = operation["requestBody"]["content"]
    wrong = []
    form = _properties(document, content.get("multipart/form-data", {}).get("schema"))
    if not _is_binary(document, form.get("image")):
        wrong.append("no multipart file field `image`")
    if "image" not in _properties(document, content.get("application/json", {}).get("schema")):
        wrong.append("no JSON field `image`")
    if "image/*" not in content:
        wrong.append("no raw image/* body")
    return wrong


def picture_output(document: dict[str, Any], operation: dict[str, Any], path: str) -> list[str]:
    """API.md, *Choosing the answer's format*: a route that answers a picture takes ``output``
    with the formats it can give as an enum."""
    if not any(media.startswith("image/") for media in _success(operation)) or \
            FILE_SUFFIX.search(path):
        return []
    output = _query(operation).get("output")
    if output is None:
        return ["answers a picture but has no `output` query parameter"]
    if not any(variant.get("enum") for variant in _variants(document, output.get("schema"))):
        return ["`output` has no enum of the formats the route can give"]
    return []


def problem_statuses(document: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """API.md, *Errors*: every documented 4xx and 5xx is application/problem+json."""
    return [f"{status} is not documented as {PROBLEM_JSON}"
            for status, response in (operation.get("responses") or {}).items()
            if str(status)[0] in "45" and PROBLEM_JSON not in (response.get("content") or {})]


def every_status(document: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """API.md, *Errors*: a success status, 422, and 401 on an authenticated route."""
    statuses = set(operation.get("responses") or {})
    wrong = []
    if not any(s.startswith("2") for s in statuses):
        wrong.append("no success status")
    if "422" not in statuses:
        wrong.append("no 422")
    if any(operation.get("security") or ()) and "401" not in statuses:
        wrong.append("authenticated, but no 401")
    return wrong


def is_list(document: dict[str, Any], method: str, operation: dict[str, Any]) -> bool:
    if method != "GET":
        return False
    schema = _success(operation).get("application/json", {}).get("schema")
    if any(variant.get("type") == "array" for variant in _variants(document, schema)):
        return True
    return "limit" in _query(operation) or "items" in _properties(document, schema)


def paged_list(document: dict[str, Any], method: str, operation: dict[str, Any]) -> list[str]:
    """API.md, *Lists*: ``limit`` 1 … 500, ``offset`` 0 … 10⁹, and the answer ``{items, total,
    limit, offset}``."""
    if not is_list(document, method, operation):
        return []
    query = _query(operation)
    wrong = []
    if _bounds(document, query.get("limit")) != (1, 500):
        wrong.append(f"limit bounds {_bounds(document, query.get('limit'))}, not (1, 500)")
    if _bounds(document, query.get("offset")) != (0, 10**9):
        wrong.append(f"offset bounds {_bounds(document, query.get('offset'))}, not (0, 10**9)")
    schema = _success(operation).get("application/json", {}).get("schema")
    missing = {"items", "total", "limit", "offset"} - set(_properties(document, schema))
    if missing:
        wrong.append(f"the answer lacks {sorted(missing)}")
    return wrong


def _schema_names(document: dict[str, Any], schema: Any, where: str,
                  seen: set[int]) -> Iterator[tuple[str, str, Any]]:
    """(where, property name, property schema) of every property under ``schema``."""
    schema = _resolve(document, schema)
    if not isinstance(schema, dict) or id(schema) in seen:
        return
    seen.add(id(schema))
    for name, prop in (schema.get("properties") or {}).items():
        yield where, name, prop
        yield from _schema_names(document, prop, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        yield from _schema_names(document, schema.get(key), where, seen)
    for key in _SCHEMA_LISTS:
        for member in schema.get(key) or ():
            yield from _schema_names(document, member, where, seen)


def _operation_names(document: dict[str, Any],
                     operation: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    for parameter in operation.get("parameters") or ():
        yield parameter.get("in", "?"), parameter["name"], parameter.get("schema")
    bodies = [("body", media.get("schema"))
              for media in ((operation.get("requestBody") or {}).get("content") or {}).values()]
    bodies += [(f"answer {status}", media.get("schema"))
               for status, response in (operation.get("responses") or {}).items()
               for media in (response.get("content") or {}).values()]
    for where, schema in bodies:
        yield from _schema_names(document, schema, where, set())


def snake_case_names(document: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """API.md, *Names*: snake_case fields and parameters."""
    return sorted({f"{where}: {name}" for where, name, _ in _operation_names(document, operation)
                   if not SNAKE_CASE.match(name)})


def datetime_format(document: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """API.md, *Names*: a moment (``*_at``, ``*_after``, ``*_before``) is an RFC 3339
    ``date-time`` string."""
    wrong = set()
    for where, name, schema in _operation_names(document, operation):
        if MOMENT_NAME.search(name) and not any(
                variant.get("format") == "date-time" for variant in _variants(document, schema)):
            wrong.add(f"{where}: {name} is not format date-time")
    return sorted(wrong)


Check = Callable[[dict[str, Any], str, str, dict[str, Any]], list[str]]
CONVENTIONS: dict[str, Check] = {
    "image_input": lambda doc, method, path, op: image_input(doc, op),
    "picture_output": lambda doc, method, path, op: picture_output(doc, op, path),
    "problem_statuses": lambda doc, method, path, op: problem_statuses(doc, op),
    "every_status": lambda doc, method, path, op: every_status(doc, op),
    "paged_list": lambda doc, method, path, op: paged_list(doc, method, op),
    "snake_case_names": lambda doc, method, path, op: snake_case_names(doc, op),
    "datetime_format": lambda doc, method, path, op: datetime_format(doc, op),
}


# --- the tests ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def document(gateway: httpx.Client) -> dict[str, Any]:
    response = gateway.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["x-unavailable-services"] == []
    return body


def _operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if isinstance(item.get(method), dict):
                yield method.upper(), path, item[method]


def test_the_document_has_every_service(document: dict[str, Any]) -> None:
    prefixes = {path.split("/")[3] for _, path, _ in _operations(document)
                if path.startswith("/api/v1/")}
    assert prefixes >= {"auth", "users", "segment", "images", "classify", "models", "scans"}


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_every_route_follows(document: dict[str, Any], convention: str) -> None:
    check = CONVENTIONS[convention]
    wrong = {f"{method} {path}": problems
             for method, path, operation in _operations(document)
             if (problems := check(document, method, path, operation))}
    assert not wrong, f"{convention} (API.md): {wrong}"


def test_every_convention_sees_routes_it_applies_to(document: dict[str, Any]) -> None:
    """The checks are not vacuous: each kind of route exists and is recognised."""
    operations = list(_operations(document))
    assert sum(takes_an_image(document, op) for _, _, op in operations) >= 10
    assert sum(is_list(document, m, op) for m, _, op in operations) >= 3
    assert sum(any(media.startswith("image/") for media in _success(op))
               for _, _, op in operations) >= 5
    assert any(MOMENT_NAME.search(name) for _, _, op in operations
               for _, name, _ in _operation_names(document, op))
