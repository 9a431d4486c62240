"""A bound on the requests one process works on at once: the rest wait briefly, then get 503.

Without it a flood queues without bound: every request takes a database connection and then
waits for a thread, threads wait for connections, and all of them time out together (issue 9,
finding 8: 30 s stalls and three minutes to recover). With it, at most ``limit`` requests run;
one more waits up to ``queue_seconds`` for a slot and is otherwise answered 503 +
``Retry-After`` at once, so the process keeps answering what it admits and is idle again as soon
as the flood stops. Health paths are never queued: a saturated process is alive (metrics
have a server of their own).

A request whose client left while it waited is dropped before it does any work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specimen_kit.errors import Saturated
from specimen_kit.metrics import REQUESTS_REJECTED
from specimen_kit.problems import send_problem

EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
RETRY_AFTER_SECONDS = 1


class _PeekedReceive:
    """A ``receive`` whose first message was looked at before the app runs.

    Peeks without waiting: a message already there (a complete body, or the disconnect) is
    taken; one still in flight stays pending and is handed to the app as its first message.
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._first: asyncio.Future[Message] | None = None

    async def client_gone(self) -> bool:
        self._first = asyncio.ensure_future(self._receive())
        await asyncio.wait({self._first}, timeout=0)
        return self._first.done() and self._first.result()["type"] == "http.disconnect"

    async def __call__(self) -> Message:
        first, self._first = self._first, None
        return await first if first is not None else await self._receive()

    def close(self) -> None:
        """Stop waiting for a first message the app never asked for."""
        if self._first is not None:
            self._first.cancel()


class InFlightLimitMiddleware:
    """Admit at most ``limit`` requests at once; queue one more up to ``queue_seconds``."""

    def __init__(self, app: ASGIApp, *, limit: int, queue_seconds: float, service: str,
                 exempt_paths: Collection[str] = EXEMPT_PATHS) -> None:
        self.app = app
        self.limit = limit
        self.queue_seconds = queue_seconds
        self.service = service
        self.exempt_paths = frozenset(exempt_paths)
        self._slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if not self._slots.locked():
            await self._slots.acquire()
            try:
                await self.app(scope, receive, send)
            finally:
                self._slots.release()
        elif await self._acquire_queued():
            await self._run_after_wait(scope, receive, send)
        else:
            REQUESTS_REJECTED.labels(self.service, "saturated").inc()
            await send_problem(send, Saturated(
                f"The {self.service} service is working on {self.limit} requests already; "
                f"retry in {RETRY_AFTER_SECONDS} s.", retry_after=RETRY_AFTER_SECONDS),
                scope["path"])

    async def _run_after_wait(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a request that queued for its slot, unless its client gave up meanwhile."""
        peeked = _PeekedReceive(receive)
        try:
            if await peeked.client_gone():
                REQUESTS_REJECTED.labels(self.service, "client_gone").inc()
                return
            await self.app(scope, peeked, send)
        finally:
            peeked.close()
            self._slots.release()

    async def _acquire_queued(self) -> bool:
        try:
            async with asyncio.timeout(self.queue_seconds):
                await self._slots.acquire()
        except TimeoutError:
            return False
        return True
