"""One problem layout from every origin (API.md, *Errors*; issue 10: the gateway's 413 had no
``instance``), and the registry of problem types the README's table is checked against."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from specimen_kit.errors import Forbidden, NotFound, Problem, load_problem_types, problem_types
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.service import build_service_app
from specimen_kit.settings import ServiceSettings

LAYOUT = {"type", "title", "status", "detail", "instance", "request_id"}


def _app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = build_service_app("test", ServiceSettings(max_body_bytes=100, max_json_depth=3),
                            lifespan, title="t")

    @app.post("/items")
    async def create(item: dict[str, int]) -> dict[str, int]:
        return item

    @app.get("/items/{item_id}")
    async def read(item_id: int) -> None:
        raise NotFound(f"No item {item_id}.")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    return app


@asynccontextmanager
async def _client() -> AsyncIterator[httpx.AsyncClient]:
    app = _app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _stream(size: int) -> AsyncIterator[bytes]:
    yield b"x" * size


# (method, path, request keywords, status, slug): one case per origin of a problem.
ORIGINS: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("GET", "/items/7", {}, 404, "not-found"),
    ("GET", "/nowhere", {}, 404, "no-route"),
    ("DELETE", "/items/7", {}, 405, "method-not-allowed"),
    ("POST", "/items", {"json": {"a": "many"}}, 422, "validation-error"),
    ("POST", "/items", {"content": b"{", "headers": {"content-type": "application/json"}},
     400, "malformed-json"),
    ("POST", "/items", {"content": b'{"a": [[[[1]]]]}',
                        "headers": {"content-type": "application/json"}}, 400, "json-too-deep"),
    ("POST", "/items", {"content": b"x" * 101}, 413, "payload-too-large"),
    ("POST", "/items", {"content": _stream(101)}, 413, "payload-too-large"),
    ("POST", "/items", {"content": b"{}", "headers": {"content-length": "two"}},
     400, "malformed-request"),
    ("GET", "/items/7?verbose=1", {}, 422, "validation-error"),
    ("GET", "/boom", {}, 500, "internal-error"),
]


@pytest.mark.parametrize(("method", "path", "send", "status", "slug"), ORIGINS,
                         ids=[f"{c[3]}-{c[4]}-{i}" for i, c in enumerate(ORIGINS)])
async def test_every_origin_answers_the_one_layout(method: str, path: str, send: dict[str, Any],
                                                   status: int, slug: str) -> None:
    if "content" in send and not isinstance(send["content"], bytes):
        send = {**send, "content": _stream(101)}
    async with _client() as client:
        response = await client.request(method, path, **send)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert set(body) >= LAYOUT
    assert body["type"] == f"https://specimen.dev/problems/{slug}"
    assert body["status"] == status
    assert body["instance"] == path.split("?")[0]
    assert body["request_id"] == response.headers["x-request-id"]
    if status == 422:
        assert body["errors"] and {"location", "message", "type"} == set(body["errors"][0])
    if status == 405:
        assert response.headers["allow"] == "GET"


class TestRegistry:
    def test_every_kit_problem_is_registered_with_a_meaning(self) -> None:
        types = {t.slug: t for t in load_problem_types(["specimen_kit"])}
        for slug in ("bad-request", "validation-error", "no-route", "method-not-allowed",
                     "internal-error", "saturated", "request-timeout", "json-too-deep",
                     "payload-too-large", "database-busy", "overloaded", "invalid-token"):
            assert slug in types
            assert types[slug].meaning and types[slug].meaning != "None"
        assert types["no-route"].status == 404
        assert types["no-route"].uri == "https://specimen.dev/problems/no-route"

    def test_a_slug_is_one_kind_its_first_class_says_what(self) -> None:
        class OnlyInThisTestForbidden(Forbidden):
            """Only a moderator edits this."""

        [kind] = problem_types([Forbidden, OnlyInThisTestForbidden])
        assert (kind.slug, kind.status, kind.meaning) == (
            "forbidden", 403, "The caller's role may not do this; a user with a higher role may.")
        assert len(kind.classes) == 2
        assert "OnlyInThisTestForbidden" not in str(problem_types())

    def test_meaning_falls_back_to_the_title(self) -> None:
        class Bare(Problem):
            status = 409
            title = "Bare conflict"
            slug = "bare-conflict-for-test"

        [kind] = problem_types([Bare])
        assert kind.meaning == "Bare conflict"
