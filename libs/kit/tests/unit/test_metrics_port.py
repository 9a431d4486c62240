"""Metrics on their own port, never on the app's (issue 10: ``/metrics`` answered anyone)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from specimen_kit.launch import free_port
from specimen_kit.metrics import metrics_server
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.service import build_service_app
from specimen_kit.settings import ServiceSettings


def _app(metrics_port: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    return build_service_app("metered", ServiceSettings(metrics_port=metrics_port,
                                                        metrics_host="127.0.0.1"),
                             lifespan, title="m")


async def test_the_metrics_port_answers_and_the_app_port_does_not() -> None:
    port = free_port()
    app = _app(port)
    async with app.router.lifespan_context(app):
        assert app.state.metrics_port == port
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            public = await client.get("/metrics")
            await client.get("/healthz")
        async with httpx.AsyncClient() as scraper:
            scraped = await scraper.get(f"http://127.0.0.1:{port}/metrics")
    async with httpx.AsyncClient() as scraper:
        # Stopped with the app: nothing answers on the port any more.
        with pytest.raises(httpx.ConnectError):
            await scraper.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
    assert public.status_code == 404
    assert public.headers["content-type"] == PROBLEM_JSON
    assert public.json()["type"].endswith("/no-route")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert 'specimen_http_request_duration_seconds_count{method="GET",route="/healthz",' \
           'service="metered",status="200"}' in scraped.text


def test_port_zero_serves_nothing() -> None:
    with metrics_server("127.0.0.1", 0) as port:
        assert port is None


def test_a_taken_port_is_an_error_at_start() -> None:
    with metrics_server("127.0.0.1", free_port()) as port:
        assert port is not None
        with pytest.raises(OSError), metrics_server("127.0.0.1", port):
            pass
