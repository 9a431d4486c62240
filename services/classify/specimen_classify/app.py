"""The classify service's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from specimen_classify.config import ClassifySettings
from specimen_kit.service import build_service_app
from specimen_kit.tokens import remote_token_verifier


def create_app(settings: ClassifySettings | None = None) -> FastAPI:
    """Build the classify service; ``uvicorn specimen_classify.app:create_app --factory``."""
    settings = settings or ClassifySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with remote_token_verifier(settings) as verifier:
            app.state.token_verifier = verifier
            yield

    return build_service_app(
        "classify", settings, lifespan,
        title="Specimen classify",
        description="Tumor/healthy classification of brain MRI slices, plankton object "
        "categories, model versions and MRI scan records.",
    )
