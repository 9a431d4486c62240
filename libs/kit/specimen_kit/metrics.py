"""Prometheus metrics shared by every service, served at ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUEST_LATENCY = Histogram(
    "specimen_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ("service", "method", "route", "status"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REQUESTS_REJECTED = Counter(
    "specimen_http_requests_rejected_total",
    "Requests refused before reaching a handler (body too large, rate limited).",
    ("service", "reason"),
)


def metrics_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
