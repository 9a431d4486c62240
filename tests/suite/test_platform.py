"""What every caller relies on, across real processes: token attacks refused everywhere, bad
input answered with problem+json, readiness, docs, request ids, and no 500 anywhere."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest

from specimen_kit.jwk import generate_private_key_pem, public_jwk, public_pem
from specimen_kit.testing import mint_token
from suite_support import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSuite

PROBLEM_JSON = "application/problem+json"

pytestmark = pytest.mark.suite


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


@pytest.fixture(scope="module")
def admin_token(gateway: httpx.Client) -> str:
    response = gateway.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    return str(response.json()["access_token"])


def _attacks(private_pem: str, admin_token: str) -> dict[str, str]:
    kid = public_jwk(private_pem)["kid"]
    now = int(time.time())
    claims: dict[str, object] = {"sub": "1", "role": "admin", "hospital": "Specimen",
                                 "iss": "specimen-users", "iat": now, "exp": now + 600,
                                 "jti": uuid.uuid4().hex}
    header, payload, signature = admin_token.split(".")
    tampered_claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered_claims["hospital"] = "Hospital B"
    hs_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, claims)
    hs_signature = hmac.new(public_pem(private_pem).encode(), hs_input.encode(), hashlib.sha256).digest()
    return {
        "tampered signature": f"{header}.{_b64(json.dumps(tampered_claims).encode())}.{signature}",
        "alg none": _unsigned({"alg": "none", "typ": "JWT", "kid": kid}, claims) + ".",
        "HS256 with the public key": f"{hs_input}.{_b64(hs_signature)}",
        "expired": mint_token(private_pem, iat=now - 3600, exp=now - 60),
        "wrong issuer": mint_token(private_pem, iss="evil-issuer"),
        "missing exp": mint_token(private_pem, drop=("exp",)),
        "missing sub": mint_token(private_pem, drop=("sub",)),
        "missing role": mint_token(private_pem, drop=("role",)),
        "another key": mint_token(generate_private_key_pem()),
        "garbage": "not-a-token",
    }


ATTACKS = ["tampered signature", "alg none", "HS256 with the public key", "expired", "wrong issuer",
           "missing exp", "missing sub", "missing role", "another key", "garbage"]


class TestTokenAttacks:
    @pytest.mark.parametrize("attack", ATTACKS)
    @pytest.mark.parametrize(("service", "method", "path"), [
        ("gateway", "GET", "/api/v1/auth/me"), ("users", "GET", "/api/v1/auth/me"),
        ("segment", "POST", "/api/v1/segment/threshold"), ("segment", "GET", "/api/v1/images"),
    ])
    def test_forged_tokens_are_401_at_the_gateway_and_at_each_service(
        self, running_suite: RunningSuite, admin_token: str, attack: str, service: str,
        method: str, path: str,
    ) -> None:
        """The gateway refuses them, and so does each service reached directly (in-cluster)."""
        token = _attacks(running_suite.private_pem, admin_token)[attack]
        response = httpx.request(method, running_suite.suite.url(service) + path,
                                 headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == PROBLEM_JSON

    def test_the_genuine_token_passes(self, gateway: httpx.Client, admin_token: str) -> None:
        response = gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {admin_token}"})
        assert response.status_code == 200


class TestBadInput:
    @pytest.mark.parametrize(("name", "content", "content_type", "expected"), [
        ("malformed JSON", b'{"email": "a@b.c", "password": ', "application/json", 400),
        ("JSON array", b"[]", "application/json", 422),
        ("unknown field", b'{"email": "a@b.c", "password": "x", "admin": true}', "application/json", 422),
        ("wrong type", b'{"email": 12, "password": ["x"]}', "application/json", 422),
        ("empty body", b"", "application/json", 400),
        ("not JSON at all", b"\x89PNG\r\n\x1a\n", "application/octet-stream", 400),
    ])
    def test_login_refuses_bad_bodies_with_a_problem(
        self, gateway: httpx.Client, name: str, content: bytes, content_type: str, expected: int
    ) -> None:
        response = gateway.post("/api/v1/auth/login", content=content,
                                headers={"content-type": content_type})
        assert response.status_code == expected, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["detail"]

    def test_user_creation_names_each_bad_field(self, gateway: httpx.Client, admin_token: str) -> None:
        response = gateway.post("/api/v1/users", headers={"Authorization": f"Bearer {admin_token}"},
                                json={"email": "not-an-email", "full_name": 3, "hospital": "A",
                                      "role": "emperor", "password": "x" * 10, "shoe_size": 44})
        assert response.status_code == 422
        detail = response.json()["detail"]
        for field in ("full_name", "role", "shoe_size"):
            assert field in detail

    def test_user_creation_refuses_a_malformed_email(self, gateway: httpx.Client, admin_token: str) -> None:
        response = gateway.post("/api/v1/users", headers={"Authorization": f"Bearer {admin_token}"},
                                json={"email": "not-an-email", "full_name": "N", "hospital": "A",
                                      "role": "technician", "password": "x" * 10})
        assert response.status_code == 422
        assert "not-an-email" in response.json()["detail"]

    def test_password_over_72_bytes_is_a_422(self, gateway: httpx.Client, admin_token: str) -> None:
        response = gateway.post("/api/v1/users", headers={"Authorization": f"Bearer {admin_token}"},
                                json={"email": f"long-{uuid.uuid4().hex[:6]}@suite.test",
                                      "full_name": "Long", "role": "technician",
                                      "password": "é" * 40})
        assert response.status_code == 422
        assert "72" in response.json()["detail"]

    def test_oversized_body_is_413_at_the_gateway(self, gateway: httpx.Client) -> None:
        response = gateway.post("/api/v1/auth/login", content=b"x" * (64 * 1024 + 1),
                                headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_JSON

    def test_oversized_chunked_body_is_413_at_the_gateway(self, gateway: httpx.Client) -> None:
        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(40):
                yield b"x" * 4096

        response = gateway.post("/api/v1/auth/login", content=chunks(),
                                headers={"content-type": "application/json"})
        assert response.status_code == 413

    def test_unknown_api_path_is_a_404_problem(self, gateway: httpx.Client) -> None:
        response = gateway.get("/api/v1/nothing/here")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON


class TestOperations:
    def test_readyz_aggregates_every_service(self, gateway: httpx.Client) -> None:
        response = gateway.get("/readyz")
        assert response.status_code == 200
        assert set(response.json()["checks"]) >= {"users", "segment", "classify"}

    def test_openapi_merges_the_services_and_docs_work_offline(self, gateway: httpx.Client) -> None:
        spec = gateway.get("/openapi.json").json()
        assert {"/api/v1/auth/login", "/api/v1/users", "/api/v1/users/{user_id}",
                "/api/v1/segment/threshold", "/api/v1/segment/superpixels/selection",
                "/api/v1/images", "/api/v1/images/{image_id}/segmentations"} <= set(spec["paths"])
        docs = gateway.get("/docs").text
        assert "swagger-ui" in docs
        assert "cdn.jsdelivr" not in docs and "unpkg" not in docs
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            url = next(part.split('"')[0] for part in docs.split('"') if part.endswith(asset))
            assert gateway.get(url).status_code == 200

    def test_request_id_is_passed_on_and_logged_by_the_service(
        self, gateway: httpx.Client, running_suite: RunningSuite, admin_token: str
    ) -> None:
        request_id = "suite-" + uuid.uuid4().hex
        response = gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {admin_token}",
                                                           "X-Request-ID": request_id})
        assert response.headers["x-request-id"] == request_id
        for service in ("gateway", "users"):
            # A service writes its access line as the answer leaves, so the file may not hold it
            # yet when the client has the answer: read until it does (or give up after a while).
            give_up = time.monotonic() + 10
            while True:
                lines = [json.loads(line) for line in running_suite.log(service).splitlines()
                         if request_id in line]
                if lines or time.monotonic() > give_up:
                    break
                time.sleep(0.05)
            assert lines and all(line["request_id"] == request_id for line in lines)

    def test_metrics_on_every_service_on_its_metrics_port_only(
            self, running_suite: RunningSuite) -> None:
        for service in ("gateway", "users", "segment", "classify"):
            response = httpx.get(running_suite.suite.metrics_url(service))
            assert response.headers["content-type"].startswith("text/plain")
            assert "specimen_http_request_duration_seconds" in response.text
            public = httpx.get(running_suite.suite.url(service) + "/metrics")
            assert (public.status_code, public.headers["content-type"]) == (
                404, "application/problem+json")

    def test_public_metrics_through_the_gateway_is_a_no_route_404(
            self, running_suite: RunningSuite) -> None:
        response = httpx.get(running_suite.gateway + "/metrics")
        assert response.status_code == 404
        assert response.json()["type"] == "https://specimen.dev/problems/no-route"
