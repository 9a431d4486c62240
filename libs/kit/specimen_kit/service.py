"""The skeleton every service's ``create_app`` starts from."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

from specimen_kit.health import health_router
from specimen_kit.inflight import InFlightLimitMiddleware
from specimen_kit.logs import configure_logging
from specimen_kit.metrics import metrics_router
from specimen_kit.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from specimen_kit.problems import PROBLEM_JSON, install_problem_handlers
from specimen_kit.request_bodies import BodyReadDeadlineMiddleware, JsonDepthLimitMiddleware
from specimen_kit.settings import ServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def build_service_app(
    name: str,
    settings: ServiceSettings,
    lifespan: Lifespan,
    *,
    title: str,
    description: str = "",
    version: str = "0.1.0",
) -> FastAPI:
    """A FastAPI app with the shared middleware, problem handlers, health and metrics.

    The lifespan owns the service's resources and must fill ``app.state.readiness_checks``.
    """
    configure_logging(name, settings.log_level)
    # Observability is Prometheus metrics and JSON logs; FastAPI's native OpenTelemetry hooks
    # would only cost a check per request with no exporter configured.
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.settings = settings
    app.state.service_name = name
    app.state.readiness_checks = {}
    install_problem_handlers(app)
    # Outermost last: request id and log; admission; body size; body read deadline; JSON depth.
    app.add_middleware(JsonDepthLimitMiddleware, max_depth=settings.max_json_depth, service=name)
    app.add_middleware(BodyReadDeadlineMiddleware, timeout_seconds=settings.body_read_timeout_seconds,
                       min_bytes_per_second=settings.min_upload_bytes_per_second,
                       max_bytes=settings.max_body_bytes, service=name)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes, service=name)
    if settings.max_concurrent_requests:
        app.add_middleware(InFlightLimitMiddleware, limit=settings.max_concurrent_requests,
                           queue_seconds=settings.request_queue_seconds, service=name)
    app.add_middleware(RequestContextMiddleware, service=name)
    app.include_router(health_router())
    app.include_router(metrics_router())
    _document_problems(app)
    return app


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
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers really send for a 422: problem+json,
    not FastAPI's default ``HTTPValidationError`` body."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name in _FASTAPI_VALIDATION_SCHEMAS:
            schemas.pop(name, None)
        schemas["Problem"] = PROBLEM_SCHEMA
        problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                invalid = operation.get("responses", {}).get("422")
                if invalid is not None:
                    invalid["content"] = problem
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]

