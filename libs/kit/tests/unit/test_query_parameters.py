"""The one rule for the query string (API.md, *Lists*): an undeclared parameter is a 422."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field

from specimen_kit import uploads
from specimen_kit.paging import Limit, Offset
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.service import build_service_app
from specimen_kit.settings import ServiceSettings


class Filters(BaseModel):
    hospital: str | None = None
    sort_by: str = Field("name", alias="sort")


class Options(BaseModel):
    level: int = 1


def _app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = build_service_app("test", ServiceSettings(), lifespan, title="t")

    @app.get("/pages")
    async def pages(limit: Limit = 50, offset: Offset = 0) -> dict[str, int]:
        return {"limit": limit, "offset": offset}

    @app.get("/filtered")
    async def filtered(query: Annotated[Filters, Query()]) -> dict[str, Any]:
        return query.model_dump()

    @app.post("/image", openapi_extra=uploads.request_body_doc(
        Options.model_json_schema(), uploads.FileFields()))
    async def image(request: Request) -> dict[str, Any]:
        payload = await uploads.read_payload(request, uploads.FileFields())
        return {"fields": payload.fields}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"ok": "yes"}

    return app


@asynccontextmanager
async def _client() -> AsyncIterator[httpx.AsyncClient]:
    app = _app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


class TestDeclaredParameters:
    @pytest.mark.parametrize("url", [
        "/pages?limit=5&offset=2", "/filtered?hospital=x&sort=name", "/plain", "/healthz"])
    async def test_declared_or_no_parameters_pass(self, url: str) -> None:
        async with _client() as client:
            response = await client.get(url)
        assert response.status_code == 200, response.text

    async def test_parameters_documented_for_the_image_body_pass(self) -> None:
        async with _client() as client:
            response = await client.post("/image?level=3", content=b"\x89PNG",
                                         headers={"content-type": "image/png"})
        assert response.status_code == 200, response.text
        assert response.json() == {"fields": {"level": "3"}}


class TestUnknownParameters:
    async def test_list_route_names_the_unknown_and_the_accepted(self) -> None:
        async with _client() as client:
            response = await client.get("/pages?limit=5&sort=name")
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["type"].endswith("/validation-error")
        assert body["instance"] == "/pages"
        assert body["errors"] == [{
            "location": "query.sort", "type": "extra_forbidden",
            "message": "sort is not a parameter of this route; it accepts: limit, offset"}]

    async def test_query_model_counts_its_aliases_not_its_field_names(self) -> None:
        async with _client() as client:
            response = await client.get("/filtered?sort_by=name")
        assert response.status_code == 422
        assert response.json()["errors"][0]["message"].endswith("accepts: hospital, sort")

    async def test_image_route_refuses_what_its_body_doc_does_not_name(self) -> None:
        async with _client() as client:
            response = await client.post("/image?levle=3", content=b"\x89PNG",
                                         headers={"content-type": "image/png"})
        assert response.status_code == 422
        assert [e["location"] for e in response.json()["errors"]] == ["query.levle"]

    @pytest.mark.parametrize("url", ["/plain?verbose=1", "/healthz?probe=1"])
    async def test_route_without_parameters_says_so(self, url: str) -> None:
        async with _client() as client:
            response = await client.get(url)
        assert response.status_code == 422
        assert response.json()["errors"][0]["message"].endswith(
            " is not a parameter of this route; it takes no query parameters")

    async def test_each_unknown_named_once(self) -> None:
        async with _client() as client:
            response = await client.get("/plain?a=1&b=2&a=3")
        assert [e["location"] for e in response.json()["errors"]] == ["query.a", "query.b"]


def test_image_body_doc_declares_its_parameters_in_the_query() -> None:
    document = uploads.request_body_doc(Options.model_json_schema(), uploads.FileFields())
    assert [(p["name"], p["in"], p["schema"]["type"]) for p in document["parameters"]] == [
        ("level", "query", "integer")]


def test_query_parameters_are_documented_to_fit_a_url() -> None:
    class Long(BaseModel):
        notes: str | None = Field(None, max_length=100_000)
        ids: list[int] = Field(default_factory=list, max_length=10_000)

    documented = {p["name"]: p["schema"] for p in uploads.request_body_doc(
        Long.model_json_schema(), uploads.FileFields())["parameters"]}
    assert documented["notes"]["anyOf"][0]["maxLength"] == uploads.QUERY_MAX_CHARS
    assert documented["ids"]["maxItems"] == uploads.QUERY_MAX_ITEMS


class TestPartCounts:
    """Before: past Starlette's parser bound, a bare 400 naming that bound (the route's limit plus
    its slack), not the route's own limit."""

    async def test_file_parts_past_the_bound_name_the_routes_limit(self) -> None:
        async with _client() as client:
            response = await client.post("/image", files=[("image", (f"{i}.png", b"x")) for i in range(5)])
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "more than 1 file;" in response.json()["detail"]

    async def test_fields_past_the_bound_name_it(self) -> None:
        async with _client() as client:
            response = await client.post("/image", files=[("image", ("a.png", b"x"))],
                                         data={f"f{i}": "1" for i in range(300)})
        assert response.status_code == 422
        assert "more than 102 form fields" in response.json()["detail"]
