"""The error answers of an OpenAPI document, said once for every route.

Every Specimen route answers its errors as ``application/problem+json`` (:mod:`specimen_kit.problems`),
and many statuses come from shared machinery rather than from the route itself: the validation
handler (400 malformed JSON, 422), the body-size middleware (413), the bearer-token check
(401, 403), saturation and deadlines (503 with ``Retry-After``, 504). :func:`document_problems`
adds those to every operation they can reach, so that a client (or schemathesis) finds each
status a route can send in its OpenAPI ``responses``. Statuses only one route answers (the 404
of an id, the 409 of a conflict) are declared on that route with :func:`documented_problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` lists each invalid field on a 422.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "location": {"type": "string"}, "message": {"type": "string"},
            "type": {"type": "string"}}}},
    },
}

RETRY_AFTER = "Retry-After"
_RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 0},
}
_WAIT_STATUSES = frozenset({429, 503})

BODY_PROBLEMS: Mapping[int, str] = {
    400: "The body is not valid JSON (malformed-json).",
    413: "The body, or the image's pixel count read from its header, is over the limit.",
}
TOKEN_PROBLEMS: Mapping[int, str] = {
    401: "No valid bearer token (missing, malformed, expired or revoked).",
    403: "The token's role may not do this.",
}
EVERY_ROUTE_PROBLEMS: Mapping[int, str] = {
    422: "A parameter or field cannot be accepted, or the query string names a parameter this "
         "route does not take; `errors` names each one.",
    503: "Saturated, or a dependency is down; try again after Retry-After.",
    504: "The work did not finish before its deadline.",
}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def documented_problem(description: str, status: int | None = None) -> dict[str, Any]:
    """One OpenAPI response object: ``description``, answered as problem+json.

    ``status`` 429 and 503 also document the ``Retry-After`` header they carry.
    """
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status in _WAIT_STATUSES:
        response["headers"] = {RETRY_AFTER: dict(_RETRY_AFTER_HEADER)}
    return response


def documented_problems(problems: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with its description, as problem+json.

    >>> sorted(documented_problems({404: "No such user."}))
    [404]
    """
    return {status: documented_problem(description, status)
            for status, description in problems.items()}


def operations(document: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """Every operation object of ``document``'s paths."""
    for item in (document.get("paths") or {}).values():
        for method, operation in item.items():
            if method in HTTP_METHODS and isinstance(operation, dict):
                yield operation


def add_problems(operation: dict[str, Any], problems: Mapping[int, str]) -> None:
    """Document each of ``problems`` on ``operation`` unless the route already says it.

    A status the route documents without a body (or with FastAPI's default validation body)
    gets the problem+json content it really carries; its description is kept.
    """
    responses = operation.setdefault("responses", {})
    for status, description in problems.items():
        response = responses.setdefault(str(status), documented_problem(description, status))
        _answer_as_problem(response, status)


def _answer_as_problem(response: dict[str, Any], status: int) -> None:
    content = response.get("content")
    schema = (content or {}).get("application/json", {}).get("schema", {})
    if not content or (len(content) == 1 and schema.get("$ref") == _FASTAPI_VALIDATION_REF):
        response["content"] = documented_problem("")["content"]
    if status in _WAIT_STATUSES:
        response.setdefault("headers", {}).setdefault(RETRY_AFTER, dict(_RETRY_AFTER_HEADER))


def needs_token(operation: Mapping[str, Any]) -> bool:
    """Whether the operation names a security requirement other than "none"."""
    return any(requirement for requirement in operation.get("security") or ())


def reads_body(operation: Mapping[str, Any]) -> bool:
    return "requestBody" in operation


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Add the statuses the shared machinery answers to every operation of a service's
    document, with the ``Problem`` schema; FastAPI's ``HTTPValidationError`` goes.

    Returns ``document``, changed in place.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for operation in operations(document):
        for status, response in (operation.get("responses") or {}).items():
            if str(status).isdigit() and int(status) >= 400:
                _answer_as_problem(response, int(status))
        if reads_body(operation):
            add_problems(operation, BODY_PROBLEMS)
        if needs_token(operation):
            add_problems(operation, TOKEN_PROBLEMS)
        add_problems(operation, EVERY_ROUTE_PROBLEMS)
    return document
