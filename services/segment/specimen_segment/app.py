"""The segment service's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from specimen_kit.service import build_service_app
from specimen_kit.tokens import remote_token_verifier
from specimen_segment.config import SegmentSettings


def create_app(settings: SegmentSettings | None = None) -> FastAPI:
    """Build the segment service; ``uvicorn specimen_segment.app:create_app --factory``."""
    settings = settings or SegmentSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with remote_token_verifier(settings) as verifier:
            app.state.token_verifier = verifier
            yield

    return build_service_app(
        "segment", settings, lifespan,
        title="Specimen segment",
        description="Otsu thresholding, SLIC superpixels, object measurement, background "
        "removal, format conversion and a per-user image library.",
    )
