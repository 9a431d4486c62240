"""Forwarding through the gateway to real upstream servers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from conftest import closed_port_url
from gateway_fakes import BIG_CHUNK, BIG_CHUNKS

from specimen_kit.testing import metrics_text

Gateway = Callable[..., httpx.Client]


def _header_values(echo: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in echo["headers"] if key == name]


class TestForwarding:
    def test_method_path_query_body_and_headers_reach_the_upstream(
        self, gateway: Gateway, token_for: Callable[..., str]
    ) -> None:
        client = gateway()
        token = token_for()
        body = os.urandom(3000)
        response = client.post(
            "/api/v1/segment/otsu?a=1&a=2&b=%20x%2Fy",
            content=body,
            headers=[
                ("Authorization", f"Bearer {token}"),
                ("Content-Type", "application/octet-stream"),
                ("X-Custom", "one"), ("X-Custom", "two"),
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Request-ID", "req-123"),
                ("Connection", "keep-alive, X-Hop"), ("X-Hop", "secret"),
                ("Proxy-Authorization", "Basic eA=="),
            ],
        )
        assert response.status_code == 200
        echo = response.json()
        assert echo["service"] == "segment"
        assert echo["method"] == "POST"
        assert echo["raw_path"] == "/api/v1/segment/otsu"
        assert echo["query"] == "a=1&a=2&b=%20x%2Fy"
        assert echo["body_length"] == 3000
        assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert _header_values(echo, "x-custom") == ["one", "two"]
        assert _header_values(echo, "authorization") == [f"Bearer {token}"]
        # The client is not a trusted proxy: its own X-Forwarded-For is not passed on.
        assert _header_values(echo, "x-forwarded-for") == ["127.0.0.1"]
        assert _header_values(echo, "x-forwarded-proto") == ["http"]
        assert _header_values(echo, "x-forwarded-host") == [client.base_url.netloc.decode()]
        assert _header_values(echo, "x-request-id") == ["req-123"]
        assert _header_values(echo, "content-type") == ["application/octet-stream"]
        assert _header_values(echo, "x-hop") == []
        assert _header_values(echo, "proxy-authorization") == []
        assert _header_values(echo, "user-agent") == [client.headers["user-agent"]]
        assert response.headers.get_list("x-request-id") == ["req-123"]
        assert response.headers["x-upstream"] == "segment"

    def test_a_request_id_is_created_and_passed_on(self, gateway: Gateway) -> None:
        response = gateway().get("/.well-known/jwks.json")
        assert response.status_code == 200
        created = response.headers["x-request-id"]
        assert len(created) == 32

    def test_public_route_needs_no_token(self, gateway: Gateway) -> None:
        response = gateway().post("/api/v1/auth/login", data={"username": "a", "password": "b"})
        assert response.status_code == 200
        assert response.json()["service"] == "users"
        assert response.json()["body_length"] > 0

    def test_upstream_status_and_headers_pass_unchanged(
        self, gateway: Gateway, token_for: Callable[..., str]
    ) -> None:
        response = gateway().get(
            "/api/v1/images/status?code=302",
            headers={"Authorization": f"Bearer {token_for()}"},
        )
        assert response.status_code == 302  # redirects are the client's to follow
        assert response.headers["location"] == "/elsewhere"
        assert response.content == b"made"
        assert len(response.headers.get_list("date")) == 1
        assert len(response.headers.get_list("server")) == 1

    def test_chunked_request_body_is_streamed_upstream(
        self, gateway: Gateway, token_for: Callable[..., str]
    ) -> None:
        def parts() -> Iterator[bytes]:
            yield b"a" * 1000
            yield b"b" * 1000

        response = gateway().put(
            "/api/v1/scans/7", content=parts(),
            headers={"Authorization": f"Bearer {token_for()}"},
        )
        assert response.status_code == 200
        assert response.json()["service"] == "classify"
        assert response.json()["body_length"] == 2000

    def test_a_large_response_is_streamed_in_chunks(
        self, gateway: Gateway, token_for: Callable[..., str]
    ) -> None:
        digest = hashlib.sha256()
        chunks = total = 0
        with gateway().stream(
            "GET", "/api/v1/segment/big", headers={"Authorization": f"Bearer {token_for()}"}
        ) as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers
            for chunk in response.iter_raw():
                digest.update(chunk)
                chunks += 1
                total += len(chunk)
        assert total == len(BIG_CHUNK) * BIG_CHUNKS
        assert digest.hexdigest() == hashlib.sha256(BIG_CHUNK * BIG_CHUNKS).hexdigest()
        assert chunks > 1


class TestRouting:
    def test_unknown_path_is_a_404_problem(self, gateway: Gateway) -> None:
        response = gateway().get("/api/v1/nothing")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/no-route")

    def test_wrong_method_is_a_405_problem_with_allow(self, gateway: Gateway) -> None:
        response = gateway().delete("/api/v1/auth/login")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["allowed"] == ["POST"]

    def test_metrics_label_proxied_requests_by_route_template(
        self, gateway: Gateway, token_for: Callable[..., str]
    ) -> None:
        client = gateway()
        client.get("/api/v1/users/42", headers={"Authorization": f"Bearer {token_for()}"})
        # The gateway runs in this process (a thread): its registry is this one.
        metrics = metrics_text()
        assert 'route="/api/v1/users/{id}"' in metrics
        assert 'specimen_gateway_upstream_duration_seconds_count{outcome="response",' \
               'service="users"}' in metrics


class TestUpstreamTrouble:
    def test_an_upstream_that_is_down_is_a_503_naming_it(
        self, gateway: Gateway, token_for: Callable[..., str]
    ) -> None:
        client = gateway(segment_url=closed_port_url())
        response = client.get("/api/v1/segment/x", headers={"Authorization": f"Bearer {token_for()}"})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "The segment service is unavailable."
        assert response.json()["service"] == "segment"

    def test_a_slow_upstream_is_a_504_naming_it_and_the_timeout(
        self, gateway: Gateway, token_for: Callable[..., str]
    ) -> None:
        client = gateway(classify_timeout=0.3)
        response = client.get("/api/v1/classify/slow?delay=2",
                              headers={"Authorization": f"Bearer {token_for()}"})
        assert response.status_code == 504
        assert response.json()["detail"] == "The classify service did not answer within 0.3 s."


class TestLimits:
    def test_a_declared_body_over_the_limit_is_a_413(
        self, gateway: Gateway, token_for: Callable[..., str]
    ) -> None:
        client = gateway(max_body_bytes=1000)
        response = client.post("/api/v1/segment/otsu", content=b"x" * 1001,
                               headers={"Authorization": f"Bearer {token_for()}"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"

    def test_a_chunked_body_over_the_limit_is_a_413(
        self, gateway: Gateway, token_for: Callable[..., str]
    ) -> None:
        def parts() -> Iterator[bytes]:
            for _ in range(10):
                yield b"x" * 500

        client = gateway(max_body_bytes=1000)
        response = client.post("/api/v1/segment/otsu", content=parts(),
                               headers={"Authorization": f"Bearer {token_for()}"})
        assert response.status_code == 413
        # The gateway still serves afterwards.
        assert client.get("/healthz").status_code == 200

    def test_rate_limit_answers_429_with_retry_after(self, gateway: Gateway) -> None:
        client = gateway(rate_limit_text="3/minute")
        statuses = [client.get("/.well-known/jwks.json").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = client.get("/.well-known/jwks.json")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["type"].endswith("/too-many-requests")
        # Probes are never rate limited.
        assert client.get("/healthz").status_code == 200


    def test_rate_limit_keeps_working_with_redis_down(self, gateway: Gateway) -> None:
        # Redis on a closed port: the counters fall back to memory (issue 9, "Redis down").
        redis_url = closed_port_url().replace("http://", "redis://") + "/0"
        client = gateway(rate_limit_text="2/minute", redis_url=redis_url)
        statuses = [client.get("/.well-known/jwks.json").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


class TestClientAddress:
    """Issue 9, finding 4: X-Forwarded-For counts only when a trusted proxy sent it."""

    def test_rotating_x_forwarded_for_does_not_escape_the_rate_limit(
            self, gateway: Gateway) -> None:
        client = gateway(rate_limit_text="3/minute")
        statuses = [client.get("/.well-known/jwks.json",
                               headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                    for n in range(4)]
        assert statuses == [200, 200, 200, 429]

    def test_services_see_the_true_client_not_a_forged_hop(
            self, gateway: Gateway) -> None:
        # users' uvicorn believes the gateway's header: a forged hop passed on would become
        # the address its per-address login limit counts.
        echo = gateway().post("/api/v1/auth/login", json={},
                              headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}).json()
        assert _header_values(echo, "x-forwarded-for") == ["127.0.0.1"]

    def test_a_trusted_proxy_reports_the_client_and_its_scheme(
            self, gateway: Gateway) -> None:
        client = gateway(trusted_proxies_text="127.0.0.0/8", rate_limit_text="2/minute")
        echo = client.post("/api/v1/auth/login", json={}, headers={
            "X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https"}).json()
        assert _header_values(echo, "x-forwarded-for") == ["203.0.113.9"]
        assert _header_values(echo, "x-forwarded-proto") == ["https"]
        # The limit counts per reported client: a second one has its own budget.
        assert client.get("/.well-known/jwks.json",
                          headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
        assert client.get("/.well-known/jwks.json",
                          headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 429
        assert client.get("/.well-known/jwks.json",
                          headers={"X-Forwarded-For": "203.0.113.10"}).status_code == 200


class TestCors:
    def test_preflight_and_error_answers_carry_cors_headers(self, gateway: Gateway) -> None:
        client = gateway(cors_origins="http://lab.example")
        preflight = client.options("/api/v1/segment/otsu", headers={
            "Origin": "http://lab.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://lab.example"
        refused = client.get("/api/v1/segment/otsu", headers={"Origin": "http://lab.example"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "http://lab.example"
        assert "x-request-id" in refused.headers["access-control-expose-headers"].lower()

    def test_no_cors_headers_without_configured_origins(self, gateway: Gateway) -> None:
        response = gateway().get("/.well-known/jwks.json", headers={"Origin": "http://x"})
        assert "access-control-allow-origin" not in response.headers
