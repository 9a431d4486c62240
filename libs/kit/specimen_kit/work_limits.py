"""The middleware that bounds each request's work: its pixel budget, its deadline, its client.

For every HTTP request it

- opens an :func:`~specimen_kit.admission.admission_scope` on the process's
  :class:`~specimen_kit.admission.PixelBudget`, so the images the request decodes are counted
  and given back when it ends, whatever ended it;
- makes the request's :class:`~specimen_kit.deadlines.Deadline`: the service's
  ``work_deadline_seconds``, or less when the caller says it will wait less
  (``X-Request-Deadline: <seconds>``, as the gateway may send);
- watches the connection once the app has read the body (every image route does):
  ``http.disconnect`` before the response has been sent means the client has gone, and the
  deadline is cancelled, so the work stops at its next step instead of burning a CPU for nobody.

Stopped work is counted in ``specimen_work_stopped_total{service, reason}`` and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specimen_kit.admission import PixelBudget, admission_scope
from specimen_kit.deadlines import Deadline, deadline_scope
from specimen_kit.settings import ServiceSettings

DEADLINE_HEADER = b"x-request-deadline"

WORK_STOPPED = Counter(
    "specimen_work_stopped_total",
    "Request work stopped before its end: deadline passed or client gone.",
    ("service", "reason"),
)

log = logging.getLogger("specimen.work")


def budget_of(settings: ServiceSettings) -> PixelBudget:
    """The process's pixel budget as the settings size it."""
    return PixelBudget(round(settings.max_inflight_megapixels * 1_000_000), settings.admission_wait_seconds)


def _caller_seconds(scope: Scope) -> float:
    for key, value in scope["headers"]:
        if key == DEADLINE_HEADER:
            try:
                seconds = float(value)
            except ValueError:
                return math.inf
            return seconds if seconds > 0 and math.isfinite(seconds) else math.inf
    return math.inf


class WorkLimitsMiddleware:
    """Pixel admission, a work deadline and client-gone cancellation for every HTTP request."""

    def __init__(self, app: ASGIApp, *, service: str, budget: PixelBudget,
                 deadline_seconds: float | None) -> None:
        self.app = app
        self.service = service
        self.budget = budget
        self.deadline_seconds = deadline_seconds if deadline_seconds is not None else math.inf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = Deadline(min(self.deadline_seconds, _caller_seconds(scope)))
        answered = False
        watcher: asyncio.Task[Message] | None = None

        async def watch_connection() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not answered:
                deadline.cancel()
            return message

        async def watched_receive() -> Message:
            nonlocal watcher
            if watcher is not None:
                # After the body, the watcher owns the connection; the app hears what it heard.
                return await asyncio.shield(watcher)
            message = await receive()
            if message["type"] == "http.disconnect":
                deadline.cancel()
            elif not message.get("more_body", False):
                watcher = asyncio.create_task(watch_connection())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        try:
            with admission_scope(self.budget), deadline_scope(deadline):
                await self.app(scope, watched_receive, tracking_send)
        finally:
            if watcher is not None and not watcher.done():
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if deadline.stopped is not None:
                WORK_STOPPED.labels(self.service, deadline.stopped).inc()
                log.warning("work stopped: %s", deadline.stopped,
                            extra={"path": scope["path"], "reason": deadline.stopped})
