"""A minimal upstream for the gateway benchmark: small JSON, body-length echo, a JWKS.

``uvicorn echo_upstream:create_app --factory`` (run from ``bench/``). The JWKS document comes
from ``SPECIMEN_BENCH_JWKS`` so the gateway can verify the benchmark's tokens.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI, Request

SMALL = {"id": 42, "label": "tumor", "probability": 0.93, "model_version": "cnn-1"}


def create_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    jwks: dict[str, Any] = json.loads(os.environ.get("SPECIMEN_BENCH_JWKS", '{"keys": []}'))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        return jwks

    @app.get("/api/v1/segment/small")
    async def small() -> dict[str, Any]:
        return SMALL

    @app.post("/api/v1/segment/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    return app
