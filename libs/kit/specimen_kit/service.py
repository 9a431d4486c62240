"""The skeleton every service's ``create_app`` starts from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from specimen_kit.health import health_router
from specimen_kit.inflight import InFlightLimitMiddleware
from specimen_kit.logs import configure_logging
from specimen_kit.metrics import metrics_server
from specimen_kit.middleware import BodyLimits, BodySizeLimitMiddleware, RequestContextMiddleware
from specimen_kit.openapi_problems import document_problems
from specimen_kit.problems import install_problem_handlers
from specimen_kit.query_parameters import reject_unknown_query
from specimen_kit.request_bodies import BodyReadDeadlineMiddleware, JsonDepthLimitMiddleware
from specimen_kit.settings import ServiceSettings
from specimen_kit.work_limits import WorkLimitsMiddleware, budget_of

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def build_service_app(
    name: str,
    settings: ServiceSettings,
    lifespan: Lifespan,
    *,
    title: str,
    description: str = "",
    version: str = "0.1.0",
    upload_routes: Iterable[tuple[str, str]] = (),
) -> FastAPI:
    """A FastAPI app with the shared middleware, problem handlers, health and metrics.

    The lifespan owns the service's resources and must fill ``app.state.readiness_checks``;
    around it runs the metrics server (on ``settings.metrics_port``, never the app's port).
    """
    configure_logging(name, settings.log_level)

    @asynccontextmanager
    async def with_metrics(app: FastAPI) -> AsyncIterator[None]:
        with metrics_server(settings.metrics_host, settings.metrics_port) as port:
            app.state.metrics_port = port
            async with lifespan(app):
                yield

    # Observability is Prometheus metrics and JSON logs; FastAPI's native OpenTelemetry hooks
    # would only cost a check per request with no exporter configured.
    # Every route, the service's own and the shared ones, refuses a query parameter it does not
    # declare (API.md: an unknown query parameter is a 422, everywhere).
    app = FastAPI(title=title, description=description, version=version, lifespan=with_metrics,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  dependencies=[Depends(reject_unknown_query)])
    app.state.settings = settings
    app.state.service_name = name
    app.state.readiness_checks = {}
    install_problem_handlers(app)
    app.state.pixel_budget = budget_of(settings)
    # Outermost last: request id and log; admission; body size; body read deadline; JSON
    # depth; pixel budget, work deadline and client-gone watch.
    app.add_middleware(WorkLimitsMiddleware, service=name, budget=app.state.pixel_budget,
                       deadline_seconds=settings.work_deadline_seconds)
    app.add_middleware(JsonDepthLimitMiddleware, max_depth=settings.max_json_depth, service=name)
    # The bulk upload routes (``(method, path template)``) take up to SPECIMEN_MAX_UPLOAD_BYTES.
    limits = BodyLimits.of(settings.max_body_bytes, settings.max_upload_bytes, upload_routes)
    app.state.body_limits = limits
    app.add_middleware(BodyReadDeadlineMiddleware, timeout_seconds=settings.body_read_timeout_seconds,
                       min_bytes_per_second=settings.min_upload_bytes_per_second,
                       max_bytes=settings.max_body_bytes, service=name, limits=limits)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes, service=name,
                       limits=limits)
    if settings.max_concurrent_requests:
        app.add_middleware(InFlightLimitMiddleware, limit=settings.max_concurrent_requests,
                           queue_seconds=settings.request_queue_seconds, service=name)
    app.add_middleware(RequestContextMiddleware, service=name)
    app.include_router(health_router())
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers really send: every error as
    problem+json, and the statuses the shared machinery answers on every route."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

