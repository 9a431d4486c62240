"""``/healthz`` (the process answers) and ``/readyz`` (its dependencies answer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[None]]
"""Returns when the dependency is usable, raises when it is not."""

logger = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 3.0


async def run_checks(checks: Mapping[str, ReadinessCheck]) -> tuple[bool, dict[str, str]]:
    async def one(check: ReadinessCheck) -> str:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except Exception as error:  # a readiness probe reports every failure, whatever it is
            logger.warning("readiness check failed", extra={"error": repr(error)})
            return f"failed: {error or type(error).__name__}"
        return "ok"

    results = await asyncio.gather(*(one(check) for check in checks.values()))
    report = dict(zip(checks.keys(), results, strict=True))
    return all(result == "ok" for result in results), report


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The service and what it depends on are ready")
    async def readyz(request: Request) -> JSONResponse:
        ready, report = await run_checks(request.app.state.readiness_checks)
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": report},
                            status_code=200 if ready else 503)

    return router
