"""Guards on request bodies before any handler or parser sees them (issue 9, findings 9, 10).

- :class:`BodyReadDeadlineMiddleware`: a body must arrive within a grace time plus its length
  at a minimum rate, else 408. A client trickling a declared megabyte holds nothing for long.
- :class:`JsonDepthLimitMiddleware`: a JSON body nested deeper than the limit is a 400 before it
  is parsed; Python's parsers recurse, and 1000 levels raised ``RecursionError`` (a 500).
"""

from __future__ import annotations

import asyncio
import re
from array import array
from itertools import accumulate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specimen_kit.errors import JsonTooDeep, RequestTimeout
from specimen_kit.metrics import REQUESTS_REJECTED
from specimen_kit.middleware import BodyLimits, EarlyAnswer
from specimen_kit.problems import send_problem

# A JSON string literal, escapes included (the unrolled form: no per-character alternation).
_STRING_LITERAL = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Opening brackets become +1 and closing ones -1 (0xff as a signed byte); the rest is dropped.
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[{]}"))


def json_nesting_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, without parsing it.

    String literals are removed first, so brackets inside strings do not count. Runs at C speed
    (a regex, a byte translation, :func:`itertools.accumulate`), a few ms for 4 MB. Malformed
    text gets a number too; the parser refuses it afterwards.

    >>> json_nesting_depth(b'{"a": [1, {"b": "[[["}]}')
    3
    >>> json_nesting_depth(b'42')
    0
    """
    brackets = _STRING_LITERAL.sub(b"", raw).translate(_BRACKETS, _NOT_BRACKETS)
    return max(accumulate(array("b", brackets)), default=0)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return bool(media_type == b"application/json" or media_type.endswith(b"+json"))
    return False


def _has_body(scope: Scope) -> tuple[bool, int | None]:
    """Whether a body follows, and its declared length when there is one."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value) > 0, int(value)
        if name == b"transfer-encoding":
            return True, None
    return False, None


class BodyReadDeadlineMiddleware:
    """408 for a body that arrives slower than ``timeout_seconds`` plus its length (declared,
    else ``max_bytes``) at ``min_bytes_per_second``.

    Only the body is timed: once its last part is in, ``receive`` is the server's own again
    (an app waiting for the disconnect must not get a 408).
    """

    def __init__(self, app: ASGIApp, *, timeout_seconds: float, min_bytes_per_second: int,
                 max_bytes: int, service: str, limits: BodyLimits | None = None) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds
        self.min_bytes_per_second = min_bytes_per_second
        self.max_bytes = max_bytes
        self.service = service
        self.limits = limits

    def seconds_allowed(self, length: int | None, max_bytes: int | None = None) -> float:
        """How long a body of ``length`` bytes (unknown: the largest allowed, ``max_bytes`` or
        the default limit) may take."""
        largest = self.max_bytes if max_bytes is None else max_bytes
        expected = largest if length is None else min(length, largest)
        return self.timeout_seconds + expected / self.min_bytes_per_second

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        has_body, length = _has_body(scope) if scope["type"] == "http" else (False, None)
        if not has_body:
            await self.app(scope, receive, send)
            return
        # An upload route's body may be larger, so it may take longer; never slower than the rate.
        allowed = self.seconds_allowed(
            length, self.limits.of_scope(scope).max_bytes if self.limits else None)
        deadline = asyncio.get_running_loop().time() + allowed
        body_complete = False
        early = EarlyAnswer(send)

        async def receive_within_deadline() -> Message:
            nonlocal body_complete
            if early.answered:
                return {"type": "http.disconnect"}
            if body_complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                REQUESTS_REJECTED.labels(self.service, "body_too_slow").inc()
                return await early.answer(RequestTimeout(
                    f"The request body did not arrive within {allowed:.0f} s "
                    f"({self.timeout_seconds:g} s plus its length at "
                    f"{self.min_bytes_per_second} bytes/s); send it faster or smaller."),
                    scope["path"])
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        await self.app(scope, receive_within_deadline, early.send)


class JsonDepthLimitMiddleware:
    """400 for a JSON body nested deeper than ``max_depth``, before anything parses it.

    The body (already bounded by the size limit outside this middleware) is read whole, measured
    by :func:`json_nesting_depth` and handed on unchanged as one message.
    """

    def __init__(self, app: ASGIApp, *, max_depth: int, service: str) -> None:
        self.app = app
        self.max_depth = max_depth
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        if message["type"] == "http.request":
            body = b"".join(part.get("body", b"") for part in received)
            depth = json_nesting_depth(body)
            if depth > self.max_depth:
                REQUESTS_REJECTED.labels(self.service, "json_too_deep").inc()
                await send_problem(send, JsonTooDeep(
                    f"The JSON body is nested {depth} levels deep; the limit is "
                    f"{self.max_depth}.", depth=depth, max_depth=self.max_depth), scope["path"])
                return
            received = [{"type": "http.request", "body": body, "more_body": False}]
        # The app reads what was read here (or the client's leaving), then the server again.
        pending = iter(received)

        async def replaying_receive() -> Message:
            return next(pending, None) or await receive()

        await self.app(scope, replaying_receive, send)
