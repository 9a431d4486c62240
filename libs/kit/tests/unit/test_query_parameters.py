"""Unknown query parameters are a 422 naming them (API.md, Lists)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict

from specimen_kit.query_parameters import StrictQuery


class _Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = None


def _page(limit: int = 10) -> int:
    return limit


def _app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(dependencies=[StrictQuery])

    @router.get("/plain")
    def plain(q: str | None = None, page: Annotated[int, Depends(_page)] = 0) -> dict[str, int]:
        return {"page": page}

    @router.get("/model")
    def model(filters: Annotated[_Filters, Query()]) -> dict[str, str | None]:
        return {"label": filters.label}

    app.include_router(router)
    return app


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(_app()),
                                 base_url="http://t") as client:
        return await client.get(url)


class TestRejectUnknownQueryParameters:
    async def test_declared_parameters_of_the_route_and_its_dependencies_pass(self) -> None:
        response = await _get("/plain?q=x&limit=3")
        assert response.status_code == 200 and response.json() == {"page": 3}

    async def test_an_unknown_parameter_is_422_naming_it_and_the_known_ones(self) -> None:
        response = await _get("/plain?q=x&sort=name&foo=1")
        assert response.status_code == 422
        errors = response.json()["detail"]
        assert [e["loc"] for e in errors] == [["query", "foo"], ["query", "sort"]]
        assert "limit, q" in errors[0]["msg"]

    async def test_fields_of_a_query_model_are_declared(self) -> None:
        assert (await _get("/model?label=a")).status_code == 200
        assert (await _get("/model?labl=a")).status_code == 422
