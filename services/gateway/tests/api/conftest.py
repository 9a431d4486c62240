"""Real upstreams and a real gateway, each a uvicorn server on a loopback port."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from specimen_kit.jwk import generate_private_key_pem, public_jwk
from specimen_kit.launch import free_port
from specimen_kit.testing import mint_token

sys.path.insert(0, str(Path(__file__).parent))

from gateway_fakes import FakeState, ThreadedServer, fake_upstream

from specimen_gateway.app import create_app
from specimen_gateway.config import GatewaySettings

PROBLEM = {"type": "object", "properties": {"title": {"type": "string"}}}


def _document(service: str, paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": service, "version": "1"},
        "paths": {"/healthz": {"get": {"summary": f"{service} alive"}}, **paths},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"OAuth2PasswordBearer": {"type": "oauth2", "flows": {}}},
        },
    }


def _operation(ref: str) -> dict[str, Any]:
    return {
        "security": [{"OAuth2PasswordBearer": []}],
        "responses": {"200": {"content": {"application/json": {"schema": {"$ref": ref}}}}},
    }


OPENAPI = {
    "users": _document(
        "users",
        {"/api/v1/users": {"get": _operation("#/components/schemas/Item")}},
        {"Problem": PROBLEM, "Item": {"type": "object", "properties": {"email": {}}}},
    ),
    "segment": _document(
        "segment",
        {"/api/v1/segment/otsu": {"post": _operation("#/components/schemas/Item")}},
        {"Problem": copy.deepcopy(PROBLEM), "Item": {"type": "object", "properties": {"mask": {}}}},
    ),
    "classify": _document(
        "classify",
        {"/api/v1/classify/tumor": {"post": _operation("#/components/schemas/Problem")}},
        {"Problem": PROBLEM},
    ),
}


@pytest.fixture(scope="session")
def private_pem() -> str:
    return generate_private_key_pem()


@pytest.fixture(scope="session")
def token_for(private_pem: str) -> Callable[..., str]:
    def mint(role: str = "technician", **claims: Any) -> str:
        return mint_token(private_pem, role=role, **claims)
    return mint


@pytest.fixture(scope="session")
def upstreams(private_pem: str) -> Iterator[dict[str, tuple[FakeState, ThreadedServer]]]:
    started: dict[str, tuple[FakeState, ThreadedServer]] = {}
    for name in ("users", "segment", "classify"):
        state = FakeState(name, jwks={"keys": [public_jwk(private_pem)]},
                          openapi=copy.deepcopy(OPENAPI[name]))
        started[name] = (state, ThreadedServer(fake_upstream(state)).start())
    yield started
    for _, server in started.values():
        server.stop()


@pytest.fixture
def gateway(upstreams: dict[str, tuple[FakeState, ThreadedServer]]
            ) -> Iterator[Callable[..., httpx.Client]]:
    """Start a gateway with settings overrides; returns an httpx client bound to it."""
    running: list[tuple[ThreadedServer, httpx.Client]] = []

    def start(*, proxy_headers: bool = False, **overrides: Any) -> httpx.Client:
        values: dict[str, Any] = {
            "users_url": upstreams["users"][1].url,
            "segment_url": upstreams["segment"][1].url,
            "classify_url": upstreams["classify"][1].url,
            "rate_limit_text": "off",
            **overrides,
        }
        app = create_app(GatewaySettings(**values))
        server = ThreadedServer(app, proxy_headers=proxy_headers).start()
        client = httpx.Client(base_url=server.url, timeout=10)
        client.gateway_app = app  # type: ignore[attr-defined]  # for tests that read its state
        running.append((server, client))
        return client

    yield start
    for server, client in running:
        client.close()
        server.stop()


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"
