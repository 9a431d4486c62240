"""Pure ASGI middleware shared by every service (no per-request Starlette wrappers)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

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


def is_json_body(scope: Scope) -> bool:
    """Whether the request declares a JSON body (``application/json`` or ``*+json``)."""
    value = _header(scope, b"content-type")
    if value is None:
        return False
    media_type = value.split(b";", 1)[0].strip().lower()
    return bool(media_type == b"application/json" or media_type.endswith(b"+json"))


def route_pattern(template: str) -> re.Pattern[str]:
    """``/api/v1/projects/{id}/frames`` as a pattern matching one path segment per ``{...}``."""
    parts = re.split(r"\{[^/{}]+\}", template)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


@dataclass(frozen=True)
class BodyLimit:
    """The body limit of one request: its bytes and the setting that sets them."""

    max_bytes: int
    setting: str


@dataclass(frozen=True)
class BodyLimits:
    """Per-route body limits: ``max_bytes`` everywhere, ``upload_bytes`` on the bulk upload
    routes (``(method, path template)``), unless the body is JSON (read whole, so it keeps the
    small limit there too)."""

    max_bytes: int
    upload_bytes: int = 0
    upload_routes: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @classmethod
    def of(cls, max_bytes: int, upload_bytes: int,
           routes: Iterable[tuple[str, str]] = ()) -> BodyLimits:
        return cls(max_bytes, upload_bytes,
                   tuple((method.upper(), route_pattern(path)) for method, path in routes))

    def is_upload(self, scope: Scope) -> bool:
        """Whether the request is a bulk upload (a non-JSON body to an upload route)."""
        method, path = scope.get("method", ""), scope.get("path", "")
        return (any(method == m and pattern.fullmatch(path) for m, pattern in self.upload_routes)
                and not is_json_body(scope))

    def of_scope(self, scope: Scope) -> BodyLimit:
        if self.upload_bytes and self.is_upload(scope):
            return BodyLimit(self.upload_bytes, "SPECIMEN_MAX_UPLOAD_BYTES")
        return BodyLimit(self.max_bytes, "SPECIMEN_MAX_BODY_BYTES")


class BodySizeLimitMiddleware:
    """413 for a body over its route's limit (``limits``; ``max_bytes`` on every route when not
    given): from ``Content-Length`` before reading anything, and while streaming when the length
    is not declared. The problem names the limit and the setting that sets it."""

    def __init__(self, app: ASGIApp, max_bytes: int, service: str,
                 limits: BodyLimits | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.service = service
        self.limits = limits or BodyLimits(max_bytes)

    @staticmethod
    def _too_large(limit: BodyLimit) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body is larger than this route's limit of "
                               f"{limit.max_bytes} bytes ({limit.setting}).",
                               max_bytes=limit.max_bytes, limit_setting=limit.setting)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.of_scope(scope)
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_problem(send, MalformedRequest("Content-Length is not a number."),
                                   scope["path"])
                return
            if int(declared) > limit.max_bytes:
                REQUESTS_REJECTED.labels(self.service, "body_too_large").inc()
                await send_problem(send, self._too_large(limit), scope["path"])
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
                if received > limit.max_bytes:
                    REQUESTS_REJECTED.labels(self.service, "body_too_large").inc()
                    return await early.answer(self._too_large(limit), scope["path"])
            return message

        await self.app(scope, counting_receive, early.send)
