"""The gateway answers its own problems in the one layout of the services (issue 10: its 413
had no ``instance``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import closed_port_url

from specimen_kit.launch import free_port

Gateway = Callable[..., httpx.Client]
LAYOUT = {"type", "title", "status", "detail", "instance", "request_id"}


def _problem(response: httpx.Response, status: int, slug: str, instance: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) >= LAYOUT
    assert body["type"] == f"https://specimen.dev/problems/{slug}"
    assert (body["status"], body["instance"]) == (status, instance)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


class TestGatewayProblems:
    def test_body_over_the_limit_names_its_instance(self, gateway: Gateway) -> None:
        client = gateway(max_body_bytes=10)
        response = client.post("/api/v1/segment/otsu", content=b"x" * 11)
        _problem(response, 413, "payload-too-large", "/api/v1/segment/otsu")

    @pytest.mark.parametrize(("method", "path", "status", "slug"), [
        ("GET", "/api/v1/nowhere", 404, "no-route"),
        ("PUT", "/api/v1/auth/login", 405, "method-not-allowed"),
        ("GET", "/api/v1/users", 401, "unauthenticated"),
    ])
    def test_routing_and_token_problems(self, gateway: Gateway, method: str, path: str,
                                        status: int, slug: str) -> None:
        _problem(gateway().request(method, path), status, slug, path)

    def test_rate_limit(self, gateway: Gateway) -> None:
        client = gateway(rate_limit_text="1/minute")
        client.get("/api/v1/nowhere")
        response = client.get("/api/v1/nowhere")
        body = _problem(response, 429, "too-many-requests", "/api/v1/nowhere")
        assert response.headers["retry-after"] == str(body["retry_after"])

    def test_unreachable_upstream_says_when_to_retry(self, gateway: Gateway,
                                                     token_for: Callable[..., str]) -> None:
        client = gateway(segment_url=closed_port_url())
        response = client.post("/api/v1/segment/otsu",
                               headers={"Authorization": f"Bearer {token_for()}"})
        _problem(response, 503, "upstream-unavailable", "/api/v1/segment/otsu")
        assert response.headers["retry-after"] == "1"

    def test_a_refused_cors_preflight(self, gateway: Gateway) -> None:
        client = gateway(cors_origins="http://lab.example")
        response = client.options("/api/v1/users", headers={
            "Origin": "http://elsewhere.example", "Access-Control-Request-Method": "GET"})
        body = _problem(response, 400, "cors-refused", "/api/v1/users")
        assert "Disallowed CORS origin" in body["detail"]


class TestMetricsAreNotPublic:
    def test_public_metrics_path_is_a_no_route_404(self, gateway: Gateway) -> None:
        _problem(gateway().get("/metrics"), 404, "no-route", "/metrics")

    def test_the_metrics_port_serves_them(self, gateway: Gateway) -> None:
        port = free_port()
        client = gateway(metrics_port=port, metrics_host="127.0.0.1")
        client.get("/api/v1/nowhere")
        response = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert 'specimen_http_request_duration_seconds_count{method="GET",route="unmatched"' \
            in response.text
