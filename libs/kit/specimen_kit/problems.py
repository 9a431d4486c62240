"""RFC 9457 problem details: the typed errors of :mod:`specimen_kit.errors`, and FastAPI's own
validation and routing errors, rendered by one set of handlers as ``application/problem+json``.

Every answer has one layout (API.md, *Errors*): ``type``, ``title``, ``status``, ``detail``,
``instance`` (the request's path) and ``request_id``, plus ``errors`` on a validation error and
whatever members the problem's type adds. Whatever the origin (a handler, the framework's
routing, a middleware answering early, the gateway's proxy), the body is made by
:func:`problem_body` from a :class:`~specimen_kit.errors.Problem`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from specimen_kit.errors import (
    PROBLEM_TYPE_BASE,
    Forbidden,
    HttpError,
    InternalError,
    MalformedJson,
    MethodNotAllowed,
    NoRoute,
    NotFound,
    PayloadTooLarge,
    Problem,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from specimen_kit.logs import request_id_var

PROBLEM_JSON = "application/problem+json"
__all__ = ["PROBLEM_JSON", "PROBLEM_TYPE_BASE", "problem_body", "problem_response", "send_problem"]

logger = logging.getLogger(__name__)


def problem_body(problem: Problem, instance: str) -> dict[str, Any]:
    """The JSON body of ``problem`` for the request at path ``instance``.

    ``request_id`` is the current request's (outside one, which no answer is, a fresh id keeps
    the layout whole).
    """
    body: dict[str, Any] = {
        "type": problem.type_uri,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
        "request_id": request_id_var.get() or uuid.uuid4().hex,
    }
    body.update(problem.extensions)
    return body


def problem_response(problem: Problem, instance: str) -> JSONResponse:
    return JSONResponse(problem_body(problem, instance), status_code=problem.status,
                        media_type=PROBLEM_JSON, headers=problem.headers)


async def send_problem(send: Send, problem: Problem, instance: str) -> None:
    """Answer with ``problem`` straight from ASGI code (middleware, the gateway's proxy)."""
    body = json.dumps(problem_body(problem, instance)).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", b"%d" % len(body))]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's errors reduced to what a client needs: where, what, which type."""
    return [
        {"location": _location(e.get("loc", ())), "message": str(e.get("msg", "")),
         "type": str(e.get("type", ""))}
        for e in errors
    ]


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> Problem:
    """The problem of a failed validation: malformed JSON is a 400, anything else a 422."""
    described = describe_validation_errors(errors)
    broken = next((e for e in described if e["type"] == "json_invalid"), None)
    if broken is not None:
        return MalformedJson("The request body is not valid JSON: " + broken["message"])
    return ValidationFailed(described)


def http_problem(method: str, path: str, status: int, detail: Any,
                 headers: Mapping[str, str] | None = None) -> Problem:
    """The typed problem of an ``HTTPException`` the framework raised (routing, static files,
    security schemes)."""
    text = detail if isinstance(detail, str) else None
    problem: Problem
    if status == 404:
        problem = (NoRoute(f"No route matches {method} {path}") if text in (None, "Not Found")
                   else NotFound(text or ""))
    elif status == 405:
        allowed = [m.strip() for m in (headers or {}).get("allow", (headers or {}).get(
            "Allow", "")).split(",") if m.strip()]
        problem = MethodNotAllowed(f"{method} is not allowed on {path}.", allowed)
    else:
        known: dict[int, type[Problem]] = {401: Unauthenticated, 403: Forbidden,
                                           413: PayloadTooLarge, 415: UnsupportedMediaType}
        problem = (known[status](text or known[status].title) if status in known
                   else HttpError(status, text or "The request cannot be served."))
    for name, value in (headers or {}).items():
        problem.headers.setdefault(name, value)
    return problem


async def _render_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def _render_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_problem(exc.errors()), request.url.path)


async def _render_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    problem = http_problem(request.method, request.url.path, exc.status_code, exc.detail,
                           exc.headers)
    return problem_response(problem, request.url.path)


async def _render_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(InternalError(), request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Render typed errors, validation and routing errors as problem+json."""
    app.add_exception_handler(Problem, _render_problem)
    app.add_exception_handler(RequestValidationError, _render_validation_error)
    app.add_exception_handler(StarletteHTTPException, _render_http_error)
    app.add_exception_handler(Exception, _render_unexpected)
