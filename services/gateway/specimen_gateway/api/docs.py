"""``/openapi.json`` (the suite's merged document) and ``/docs`` (Swagger UI, offline).

Swagger UI's assets are vendored in ``static/swagger-ui`` (see its ``VERSION``) so the docs
work on a hospital network with no internet access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from specimen_gateway.adapters.openapi_catalog import OpenApiCatalog

SWAGGER_UI_DIR = Path(__file__).resolve().parent.parent / "static" / "swagger-ui"
ASSETS_URL = "/docs/assets"


def swagger_assets() -> StaticFiles:
    return StaticFiles(directory=SWAGGER_UI_DIR)


def docs_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi(request: Request) -> JSONResponse:
        catalog: OpenApiCatalog = request.app.state.openapi_catalog
        document: dict[str, Any] = await catalog.document()
        return JSONResponse(document)

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Specimen API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
            oauth2_redirect_url=f"{ASSETS_URL}/oauth2-redirect.html",
        )

    return router
