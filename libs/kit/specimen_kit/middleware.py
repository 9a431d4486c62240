"""Pure ASGI middleware shared by every service (no per-request Starlette wrappers)."""

from __future__ import annotations

import logging
import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specimen_kit.errors import InternalError, MalformedRequest, PayloadTooLarge, Problem
from specimen_kit.logs import request_id_var
from specimen_kit.metrics import REQUEST_LATENCY, REQUESTS_REJECTED
from specimen_kit.problems import send_problem

REQUEST_ID_HEADER = b"x-request-id"
CLIENT_CLOSED_REQUEST = 499
_MAX_REQUEST_ID_LENGTH = 128

access_log = logging.getLogger("specimen.access")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _valid_request_id(raw: bytes | None) -> str | None:
    if not raw or len(raw) > _MAX_REQUEST_ID_LENGTH:
        return None
    text = raw.decode("latin-1")
    return text if text.isprintable() and " " not in text else None


class EarlyAnswer:
    """Answers a request from inside a ``receive`` wrapper while the app is still running.

    The problem goes to the client at once (unless the app's response has already begun); the
    app is told that its client went away, and its own reaction never reaches the client.
    Pass :meth:`send` to the app as its ``send``.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self.answered = False
        self._response_started = False

    async def answer(self, problem: Problem, instance: str) -> Message:
        """Send the problem (once) and return the message the app should see instead."""
        if not self.answered and not self._response_started:
            self.answered = True
            await send_problem(self._send, problem, instance)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        self._response_started = True
        await self._send(message)


class RequestContextMiddleware:
    """Request id in and out, one access log line, and the latency histogram.

    The id comes from ``X-Request-ID`` when the caller (the gateway) sent a sane one, else a
    new one is made; it is put in the log context, echoed in the response and so passed on.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _valid_request_id(_header(scope, REQUEST_ID_HEADER)) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # Nobody is left to answer; not a server error. 499 is nginx's "client closed
            # request", so the metrics and the log tell it apart from a 500.
            status = status or CLIENT_CLOSED_REQUEST
        except Exception:
            if status:
                raise  # the status line is out: only cutting the response short is left
            # Whatever raised (a handler, a middleware, RecursionError, MemoryError), the client
            # gets problem+json with this request's id, and the connection stays usable: a
            # re-raise would make the server close it under the gateway's pooled keep-alive.
            access_log.exception("unhandled error", extra={"path": scope["path"]})
            await send_problem(send_with_id, InternalError(), scope["path"])
        except BaseException:
            status = status or 500
            raise
        finally:
            status = status or CLIENT_CLOSED_REQUEST
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or scope.get("specimen.route", "unmatched")
            REQUEST_LATENCY.labels(self.service, scope["method"], template, str(status)).observe(elapsed)
            access_log.info(
                "%s %s %d", scope["method"], scope["path"], status,
                extra={"method": scope["method"], "path": scope["path"], "status": status,
                       "duration_ms": round(elapsed * 1000, 2),
                       "client": (scope.get("client") or ("", 0))[0]},
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """413 for a body over ``max_bytes``: from ``Content-Length`` before reading anything,
    and while streaming when the length is not declared."""

    def __init__(self, app: ASGIApp, max_bytes: int, service: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.service = service

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body is larger than the limit of {self.max_bytes} "
                               "bytes.", max_bytes=self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_problem(send, MalformedRequest("Content-Length is not a number."),
                                   scope["path"])
                return
            if int(declared) > self.max_bytes:
                REQUESTS_REJECTED.labels(self.service, "body_too_large").inc()
                await send_problem(send, self._too_large(), scope["path"])
                return
            await self.app(scope, receive, send)
            return

        received = 0
        early = EarlyAnswer(send)

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    REQUESTS_REJECTED.labels(self.service, "body_too_large").inc()
                    return await early.answer(self._too_large(), scope["path"])
            return message

        await self.app(scope, counting_receive, early.send)
