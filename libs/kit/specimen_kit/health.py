"""``/healthz`` (the process answers) and ``/readyz`` (its dependencies answer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request

from specimen_kit.errors import Problem

ReadinessCheck = Callable[[], Awaitable[None]]
"""Returns when the dependency is usable, raises when it is not."""

logger = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 3.0
NOT_READY_RETRY_SECONDS = 5


class NotReady(Problem):
    """A dependency of the service (database, models, token revocations, a service behind the
    gateway) is not usable yet; ``checks`` says which. Retry after ``Retry-After``."""

    status = 503
    title = "Not ready"
    slug = "not-ready"

    def __init__(self, checks: dict[str, str]) -> None:
        failed = ", ".join(f"{name} {result}" for name, result in checks.items() if result != "ok")
        super().__init__(f"Not ready: {failed}.", checks=checks,
                         retry_after=NOT_READY_RETRY_SECONDS)
        self.headers["Retry-After"] = str(NOT_READY_RETRY_SECONDS)


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
    async def readyz(request: Request) -> dict[str, object]:
        ready, report = await run_checks(request.app.state.readiness_checks)
        if not ready:
            raise NotReady(report)
        return {"status": "ready", "checks": report}

    return router
