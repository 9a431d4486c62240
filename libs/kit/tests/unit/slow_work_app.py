"""A kit service whose one route works step by step until its deadline stops it (for the tests)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from specimen_kit.deadlines import checkpoint
from specimen_kit.service import build_service_app
from specimen_kit.settings import ServiceSettings


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def create_app() -> FastAPI:
    app = build_service_app("slow", ServiceSettings(work_deadline_seconds=600), _lifespan, title="slow")

    # The body parameter matters: the connection is watched once the body has been read.
    @app.post("/work")
    def work(body: dict[str, int]) -> dict[str, int]:
        steps = 0
        while True:
            checkpoint("step")
            steps += 1
            time.sleep(0.01)

    return app
