from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict

from specimen_kit.errors import NotFound
from specimen_kit.logs import JsonFormatter, request_id_var
from specimen_kit.openapi_problems import documented_problems
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.service import build_service_app
from specimen_kit.settings import ServiceSettings
from specimen_kit.testing import metrics_text


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


def _app(ready: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def database() -> None:
            if not ready:
                raise ConnectionError("database down")

        app.state.readiness_checks["database"] = database
        yield

    app = build_service_app("test", ServiceSettings(max_body_bytes=100), lifespan, title="t")

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.get("/items/{item_id}")
    async def read(item_id: int) -> Item:
        raise NotFound(f"No item {item_id}.")

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    return app


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


class TestProblemRendering:
    async def test_typed_error_is_problem_json(self) -> None:
        async with _client(_app()) as client:
            response = await client.get("/items/7")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["detail"] == "No item 7."
        assert body["type"].endswith("/not-found")
        assert body["request_id"] == response.headers["x-request-id"]

    @pytest.mark.parametrize(("payload", "status", "mentions"), [
        (b'{"name": "a", "count": ', 400, "not valid JSON"),
        (b'{"name": "a", "count": "many"}', 422, "body.count"),
        (b'{"name": "a", "count": 1, "colour": "red"}', 422, "body.colour"),
        (b'[1, 2]', 422, "body"),
    ])
    async def test_bad_bodies_are_4xx_problems_naming_the_field(
        self, payload: bytes, status: int, mentions: str
    ) -> None:
        async with _client(_app()) as client:
            response = await client.post("/items", content=payload,
                                         headers={"content-type": "application/json"})
        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM_JSON
        assert mentions in response.json()["detail"]

    async def test_unknown_route_and_method_are_problems(self) -> None:
        async with _client(_app()) as client:
            missing = await client.get("/nothing")
            wrong_method = await client.delete("/items")
        assert (missing.status_code, wrong_method.status_code) == (404, 405)
        assert missing.headers["content-type"] == wrong_method.headers["content-type"] == PROBLEM_JSON

    async def test_a_bug_is_a_500_problem_without_internals(self) -> None:
        async with _client(_app()) as client:
            response = await client.get("/boom")
        assert response.status_code == 500
        assert "bug" not in response.text
        assert response.headers["content-type"] == PROBLEM_JSON


class TestBodyLimit:
    async def test_declared_length_over_the_limit_is_413_before_reading(self) -> None:
        async with _client(_app()) as client:
            response = await client.post("/items", content=b"x" * 101,
                                         headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert "100 bytes" in response.json()["detail"]

    async def test_streamed_body_over_the_limit_is_413(self) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"x" * 20

        async with _client(_app()) as client:
            response = await client.post("/items", content=chunks(),
                                         headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_JSON


class TestHealth:
    async def test_healthz_and_readyz_when_ready(self) -> None:
        async with _client(_app()) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}

    async def test_readyz_is_503_naming_the_failed_check(self) -> None:
        async with _client(_app(ready=False)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["database"] == "failed: database down"
        # An error like every other: problem+json, and when to ask again.
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"].endswith("/not-ready")
        assert response.headers["retry-after"] == "5"

    async def test_metrics_label_requests_by_route_template(self) -> None:
        async with _client(_app()) as client:
            await client.get("/items/12345")
            metrics = metrics_text()
        assert 'route="/items/{item_id}"' in metrics
        assert "/items/12345" not in metrics


class TestRequestId:
    async def test_a_sane_incoming_id_is_kept(self) -> None:
        async with _client(_app()) as client:
            response = await client.get("/healthz", headers={"x-request-id": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"

    async def test_an_insane_incoming_id_is_replaced(self) -> None:
        async with _client(_app()) as client:
            response = await client.get("/healthz", headers={"x-request-id": "a b" * 100})
        assert len(response.headers["x-request-id"]) == 32

    def test_log_lines_are_json_with_the_request_id(self) -> None:
        token = request_id_var.set("rid-1")
        try:
            record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
            record.status = 200
            record.created = 1796443829.123
            line = json.loads(JsonFormatter("users").format(record))
        finally:
            request_id_var.reset(token)
        assert line["message"] == "hello you"
        assert (line["service"], line["request_id"], line["status"]) == ("users", "rid-1", 200)
        assert line["time"] == "2026-12-05T04:10:29.123Z"  # as answers write it (RFC 3339, Z)


class TestOpenApi:
    def test_422_answers_are_documented_as_problem_json(self) -> None:
        document = _app().openapi()
        invalid = document["paths"]["/items"]["post"]["responses"]["422"]
        assert invalid["content"] == {
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        assert "HTTPValidationError" not in document["components"]["schemas"]
        assert "Problem" in document["components"]["schemas"]

    def test_every_status_the_shared_machinery_answers_is_documented(self) -> None:
        """Issue 9, finding 13: 400 malformed JSON, 413 and 503 were answered, not documented."""
        document = _app().openapi()
        post = document["paths"]["/items"]["post"]["responses"]
        get = document["paths"]["/items/{item_id}"]["get"]["responses"]
        assert sorted(post) == ["200", "400", "413", "422", "503", "504"]
        assert sorted(get) == ["200", "422", "503", "504"]
        assert post["400"]["content"] == post["422"]["content"]
        assert "Retry-After" in post["503"]["headers"]

    def test_a_route_needing_a_token_documents_401_and_403(self) -> None:
        app = _app()

        @app.get("/secret", openapi_extra={"security": [{"Bearer": []}]},
                 responses=documented_problems({404: "No such secret."}))
        async def secret() -> None:
            return None

        responses = app.openapi()["paths"]["/secret"]["get"]["responses"]
        assert {"401", "403", "404"} <= set(responses)
        assert responses["404"]["description"] == "No such secret."

    async def test_a_malformed_json_body_is_the_documented_400(self) -> None:
        async with _client(_app()) as client:
            response = await client.post("/items", content=b"{not json",
                                         headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert "400" in _app().openapi()["paths"]["/items"]["post"]["responses"]


class TestClientGoneAway:
    async def test_a_client_that_leaves_mid_body_is_a_499_not_a_500(self) -> None:
        app = _app()
        messages = iter([{"type": "http.request", "body": b'{"name": ', "more_body": True},
                         {"type": "http.disconnect"}])
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return next(messages)

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/raw", "raw_path": b"/raw",
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
                 "server": ("test", 80), "headers": [(b"content-type", b"application/json")]}
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
            metrics = metrics_text()
        assert 'route="/raw",service="test",status="499"' in metrics
        assert 'route="/raw",service="test",status="500"' not in metrics
