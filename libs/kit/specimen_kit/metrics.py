"""Prometheus metrics shared by every service, served on their own port, never the public one.

``/metrics`` on the app port answered anyone the gateway (and the Ingress in front of it) let
through: route names, latencies and error counts of the whole suite (issue 10). So metrics are
served by a small HTTP server of their own on ``SPECIMEN_METRICS_PORT`` (0: none, the default;
the deployments set it), which Kubernetes exposes only to the monitoring namespace and Compose
publishes nowhere. The app port has no ``/metrics``; through the gateway it is a ``no-route`` 404.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram, start_http_server

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

logger = logging.getLogger(__name__)


@contextmanager
def metrics_server(host: str, port: int) -> Iterator[int | None]:
    """Serve the process's metrics on ``host:port`` while the block runs (``port`` 0: not at
    all); yields the port served, ``None`` when off.

    The server answers every path with the Prometheus text format, in a thread of its own, so
    a scrape never waits behind the app's requests. A port already taken is an error at start,
    not a silent process without metrics.
    """
    if not port:
        yield None
        return
    server, thread = start_http_server(port, addr=host)
    logger.info("metrics served", extra={"host": host, "port": port})
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
