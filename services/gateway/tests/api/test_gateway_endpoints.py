"""Endpoints the gateway answers itself: readiness, merged OpenAPI, offline docs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from conftest import closed_port_url
from gateway_fakes import FakeState, ThreadedServer

Gateway = Callable[..., httpx.Client]
Upstreams = dict[str, tuple[FakeState, ThreadedServer]]


class TestReadiness:
    def test_ready_when_every_upstream_is(self, gateway: Gateway) -> None:
        response = gateway().get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "checks": {
            "users": "ok", "segment": "ok", "classify": "ok", "token_revocations": "ok"}}

    @pytest.fixture
    def segment_not_ready(self, upstreams: Upstreams) -> Iterator[None]:
        state = upstreams["segment"][0]
        state.ready = False
        yield
        state.ready = True

    @pytest.mark.usefixtures("segment_not_ready")
    def test_not_ready_when_an_upstream_is_not(self, gateway: Gateway) -> None:
        response = gateway().get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["users"] == "ok"
        assert checks["segment"].startswith("failed") and "503" in checks["segment"]

    def test_not_ready_when_an_upstream_is_down(self, gateway: Gateway) -> None:
        response = gateway(classify_url=closed_port_url()).get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["classify"].startswith("failed")


class TestOpenApi:
    def test_documents_are_merged(self, gateway: Gateway) -> None:
        document: dict[str, Any] = gateway().get("/openapi.json").json()
        paths = document["paths"]
        assert {"/api/v1/users", "/api/v1/segment/otsu", "/api/v1/classify/tumor",
                "/healthz", "/readyz"} <= set(paths)
        assert paths["/healthz"]["get"]["summary"] == "The process is alive"
        schemas = document["components"]["schemas"]
        # Identical "Problem" kept once; different "Item" renamed for segment, refs rewritten.
        assert "Problem" in schemas and "SegmentProblem" not in schemas
        assert schemas["Item"]["properties"] == {"email": {}}
        assert schemas["SegmentItem"]["properties"] == {"mask": {}}
        segment_ref = (paths["/api/v1/segment/otsu"]["post"]["responses"]["200"]["content"]
                       ["application/json"]["schema"]["$ref"])
        assert segment_ref == "#/components/schemas/SegmentItem"
        assert document["components"]["securitySchemes"] == {"OAuth2PasswordBearer": {
            "type": "oauth2", "flows": {"password": {"tokenUrl": "/api/v1/auth/login",
                                                     "scopes": {}}}}}
        assert document["x-unavailable-services"] == []

    def test_a_service_that_is_down_is_left_out_and_named(self, gateway: Gateway) -> None:
        document = gateway(classify_url=closed_port_url()).get("/openapi.json").json()
        assert document["x-unavailable-services"] == ["classify"]
        assert "/api/v1/classify/tumor" not in document["paths"]
        assert "/api/v1/users" in document["paths"]


class TestDocs:
    def test_swagger_ui_uses_only_local_assets(self, gateway: Gateway) -> None:
        client = gateway()
        html = client.get("/docs")
        assert html.status_code == 200
        assert "http://" not in html.text and "https://" not in html.text
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        assets += re.findall(r"oauth2RedirectUrl: window.location.origin \+ '([^']+)'", html.text)
        assert "/docs/assets/oauth2-redirect.html" in assets
        assert "/docs/assets/swagger-ui-bundle.js" in assets
        assert "/docs/assets/swagger-ui.css" in assets
        for asset in assets:
            assert asset.startswith("/docs/assets/"), asset
            assert client.get(asset).status_code == 200, asset
        redirect = client.get("/docs/assets/oauth2-redirect.html")
        assert redirect.status_code == 200
        assert client.get("/docs/assets/oauth2-redirect.js").status_code == 200

    def test_fastapi_own_docs_are_gone(self, gateway: Gateway) -> None:
        client = gateway()
        assert client.get("/redoc").status_code == 404
        assert client.get("/docs/oauth2-redirect").status_code == 404
