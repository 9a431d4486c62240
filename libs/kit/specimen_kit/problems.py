"""RFC 9457 problem details: the typed errors of :mod:`specimen_kit.errors`, and FastAPI's own
validation and routing errors, rendered by one set of handlers as ``application/problem+json``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from specimen_kit.errors import Problem
from specimen_kit.logs import request_id_var

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://specimen.dev/problems/"

logger = logging.getLogger(__name__)


def problem_body(
    status: int, title: str, detail: str, slug: str, instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_response(
    status: int,
    title: str,
    detail: str,
    slug: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, title, detail, slug, instance, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's errors reduced to what a client needs: where, what, which type."""
    return [
        {"location": _location(e.get("loc", ())), "message": str(e.get("msg", "")),
         "type": str(e.get("type", ""))}
        for e in errors
    ]


async def _render_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status, exc.title, exc.detail, exc.slug,
        instance=request.url.path, headers=exc.headers, **exc.extensions,
    )


async def _render_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = describe_validation_errors(exc.errors())
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            400, "Malformed JSON", "The request body is not valid JSON: " + errors[0]["message"],
            "malformed-json", instance=request.url.path,
        )
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors)
    return problem_response(
        422, "Invalid request", summary, "validation-error",
        instance=request.url.path, errors=errors,
    )


_HTTP_TITLES = {404: "Not found", 405: "Method not allowed", 401: "Not authenticated"}


async def _render_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = _HTTP_TITLES.get(exc.status_code, "HTTP error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route matches {request.method} {request.url.path}"
    return problem_response(
        exc.status_code, title, detail, title.lower().replace(" ", "-"),
        instance=request.url.path, headers=exc.headers,
    )


async def _render_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(
        500, "Internal error", "The server failed to handle this request; it has been logged.",
        "internal-error", instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Render typed errors, validation and routing errors as problem+json."""
    app.add_exception_handler(Problem, _render_problem)
    app.add_exception_handler(RequestValidationError, _render_validation_error)
    app.add_exception_handler(StarletteHTTPException, _render_http_error)
    app.add_exception_handler(Exception, _render_unexpected)
