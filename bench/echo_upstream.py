"""A Specimen service that does no work, for the gateway benchmark: small JSON, body length.

Built with the kit's ``build_service_app`` like every real service (request ids, JSON access
log, body limit, metrics), so "direct" pays what any service pays and the ratio isolates the
gateway. ``uvicorn echo_upstream:create_app --factory`` (run from ``bench/``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from specimen_kit.service import build_service_app
from specimen_kit.settings import ServiceSettings

SMALL = {"id": 42, "label": "tumor", "probability": 0.93, "model_version": "cnn-1"}


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = build_service_app("echo", ServiceSettings(), lifespan, title="bench echo")

    @app.get("/api/v1/segment/small")
    async def small() -> dict[str, Any]:
        return SMALL

    @app.post("/api/v1/segment/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    return app
