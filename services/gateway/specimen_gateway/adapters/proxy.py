"""The proxy: a pure ASGI layer that answers every routed path without touching FastAPI.

It sits inside the shared middleware (request id, access log, body limit) and in front of
FastAPI's router, which only sees the gateway's own paths (health, metrics, docs). Per
request it does the least work it can: one rate-limit hit, one table match, one token check
for protected routes, then the upstream call through a pooled aiohttp session with the
response streamed back chunk by chunk. The request body is read whole first, under the kit's
body read deadline and within :class:`BodyBudget`: a client trickling its upload holds memory
it was allowed, never an upstream connection. A bulk upload (``SPECIMEN_MAX_UPLOAD_BYTES``,
hundreds of MiB of frames) is read the same way but into a temporary file, and streamed from
there: it holds a megabyte of the budget, not its size.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import aiohttp
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specimen_gateway.adapters.body_budget import BodyBudget, BuffersFull
from specimen_gateway.adapters.token_cache import Verifier
from specimen_gateway.adapters.upstreams import Upstream
from specimen_gateway.domain.browser_session import cookie_credentials
from specimen_gateway.domain.headers import client_response_headers, upstream_request_headers
from specimen_gateway.domain.routes import RouteRule, RouteTable
from specimen_kit.errors import Forbidden, Problem, TooManyRequests, Unauthenticated
from specimen_kit.logs import request_id_var
from specimen_kit.metrics import REQUESTS_REJECTED
from specimen_kit.middleware import BodyLimits
from specimen_kit.problems import send_problem
from specimen_kit.ratelimit import MemoryRateLimiter, RateLimit, RateLimiter
from specimen_kit.settings import DEFAULT_MAX_BODY_BYTES

logger = logging.getLogger(__name__)

SERVICE = "gateway"
# A response this small (declared length) is read whole and sent in one message; anything
# larger, or of unknown length, is streamed back as it arrives.
BUFFER_LIMIT = 64 * 1024
_BEARER = b"bearer "
DEFAULT_BODY_BUDGET = 256 * 1024 * 1024
DEFAULT_SPOOL_BUDGET = 1536 * 1024 * 1024
# An empty declared body is sent as one (Content-Length: 0); none declared, as none.
# How long a client should wait before retrying a service the gateway cannot reach.
RETRY_AFTER_SECONDS = 1
_NO_BODY: dict[int | None, bytes | None] = {0: b"", None: None}
# A bulk upload is written to its temporary file in pieces of this size (the memory it holds).
SPOOL_CHUNK = 1024 * 1024


class ClientGone(Exception):
    """The client disconnected (or the body limit cut it off) while its body was streaming."""


class UpstreamUnavailable(Problem):
    """The service behind the gateway that owns this route cannot be reached; retry shortly."""

    status = 503
    title = "Upstream unavailable"
    slug = "upstream-unavailable"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, retry_after=RETRY_AFTER_SECONDS, **extensions)
        self.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


class UpstreamTimeout(Problem):
    """The service behind the gateway did not answer within its timeout."""

    status = 504
    title = "Upstream timeout"
    slug = "upstream-timeout"


@dataclass
class GatewayRuntime:
    """What the proxy needs that only exists while the app runs (filled by the lifespan)."""

    table: RouteTable
    rate_limit: RateLimit | None
    upstreams: Mapping[str, Upstream] = field(default_factory=dict)
    verifier: Verifier | None = None
    limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    body_budget: BodyBudget = field(default_factory=lambda: BodyBudget(DEFAULT_BODY_BUDGET))
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_limits: BodyLimits | None = None
    # Bytes of bulk uploads in temporary files at once (disk, not memory).
    spool_budget: BodyBudget = field(default_factory=lambda: BodyBudget(DEFAULT_SPOOL_BUDGET))


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _spool_body(receive: Receive) -> IO[bytes]:
    """The body in a temporary file (rewound), written in :data:`SPOOL_CHUNK` pieces off the
    event loop; memory holds one piece at a time, however large the upload."""
    file = await asyncio.to_thread(tempfile.TemporaryFile)
    try:
        pending: list[bytes] = []
        held = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            pending.append(chunk)
            held += len(chunk)
            more = message.get("more_body", False)
            if held >= SPOOL_CHUNK or not more:
                await asyncio.to_thread(file.write, b"".join(pending))
                pending, held = [], 0
            if not more:
                break
        await asyncio.to_thread(file.seek, 0)
        return file
    except BaseException:
        file.close()
        raise


def _bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            if value[:7].lower() == _BEARER:
                token = value[7:].strip()
                return token.decode("latin-1") if token else None
            return None
    return None


class ProxyMiddleware:
    """Answer routed paths by proxying; pass the gateway's own paths to the inner app."""

    def __init__(self, app: ASGIApp, runtime: GatewayRuntime,
                 own_paths: frozenset[str], own_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.runtime = runtime
        self.own_paths = own_paths
        self.own_prefixes = own_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (scope["type"] != "http" or path in self.own_paths
                or path.startswith(self.own_prefixes)):
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        try:
            if runtime.rate_limit is not None:
                await self._check_rate(scope, runtime.limiter, runtime.rate_limit)
            rule = runtime.table.resolve(scope["method"], path)
            scope["specimen.route"] = rule.pattern
            if any(name == b"cookie" for name, _ in scope["headers"]):
                # The web UI's session: its cookie becomes the bearer token (CSRF-checked).
                scope["headers"] = cookie_credentials(scope["method"], scope["headers"]).headers
            if rule.minimum_role is not None:
                await self._authorize(scope["headers"], rule)
            upstream = runtime.upstreams.get(rule.upstream)
            if upstream is None:
                raise UpstreamUnavailable(f"The {rule.upstream} service is unavailable.",
                                          service=rule.upstream)
        except Problem as problem:
            await send_problem(send, problem, path)
            return
        await self._forward(scope, receive, send, upstream)

    async def _check_rate(self, scope: Scope, limiter: RateLimiter, rule: RateLimit) -> None:
        client = scope.get("client")
        decision = await limiter.hit(client[0] if client else "unknown", rule)
        if not decision.allowed:
            REQUESTS_REJECTED.labels(SERVICE, "rate_limited").inc()
            raise TooManyRequests(
                f"More than {rule.limit} requests in {rule.window_seconds} s from this address.",
                retry_after=decision.retry_after,
            )

    async def _authorize(self, headers: list[tuple[bytes, bytes]], rule: RouteRule) -> None:
        token = _bearer_token(headers)
        if token is None:
            raise Unauthenticated("This route needs a bearer access token.")
        verifier = self.runtime.verifier
        if verifier is None:
            raise UpstreamUnavailable("The gateway is starting; token keys are not loaded yet.")
        principal = await verifier.verify(token)
        assert rule.minimum_role is not None
        if not principal.at_least(rule.minimum_role):
            raise Forbidden(f"This route needs the role {rule.minimum_role.value} or higher.")

    async def _forward(self, scope: Scope, receive: Receive, send: Send,
                       upstream: Upstream) -> None:
        client = scope.get("client")
        outgoing = upstream_request_headers(
            scope["headers"], client=client[0] if client else None,
            scheme=scope.get("scheme", "http"), request_id=request_id_var.get(),
            deadline_seconds=upstream.timeout_seconds,
        )
        has_body = bool(outgoing.content_length) or outgoing.chunked
        # Unknown length: room for the largest body allowed (the size limit cuts it off there).
        size = outgoing.content_length or (self.runtime.max_body_bytes if has_body else 0)
        limits = self.runtime.body_limits
        spool = has_body and limits is not None and limits.is_upload(scope)
        try:
            if spool:
                # A bulk upload: read whole into a temporary file (same deadline), then streamed.
                # Its disk room (declared, else the largest allowed) is held until it is sent.
                assert limits is not None
                room = outgoing.content_length or limits.of_scope(scope).max_bytes
                with self.runtime.spool_budget.reserve(room):
                    with self.runtime.body_budget.reserve(min(room, SPOOL_CHUNK)):
                        spooled = await _spool_body(receive)
                    with spooled:
                        await self._exchange(scope, send, upstream, outgoing.headers, spooled)
                return
            with self.runtime.body_budget.reserve(size):
                # Read whole before an upstream connection is taken; the kit's deadline answers
                # 408 to a client that sends too slowly and ends this read as a disconnect.
                data = await _read_body(receive) if has_body else _NO_BODY[outgoing.content_length]
                await self._exchange(scope, send, upstream, outgoing.headers, data)
        except ClientGone:
            return
        except BuffersFull as problem:
            REQUESTS_REJECTED.labels(SERVICE, "buffers_full").inc()
            await send_problem(send, problem, scope["path"])

    async def _exchange(self, scope: Scope, send: Send, upstream: Upstream,
                        headers: list[tuple[str, str]], data: bytes | IO[bytes] | None) -> None:
        url = upstream.url(scope.get("raw_path") or scope["path"].encode(), scope["query_string"])
        started = time.perf_counter()
        response_started = False
        try:
            async with upstream.session.request(
                scope["method"], url, headers=headers, data=data,
                allow_redirects=False, timeout=upstream.timeout,
            ) as response:
                upstream.observe_ok(time.perf_counter() - started)
                await send({"type": "http.response.start", "status": response.status,
                            "headers": client_response_headers(response.raw_headers)})
                response_started = True
                await self._relay_body(response, send)
        except ClientGone:
            return
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            if response_started:
                # The status is already on the wire: all that is left is to cut the response
                # short so the client sees it incomplete rather than silently truncated.
                logger.warning("upstream broke off its response",
                               extra={"service": upstream.name, "error": repr(error)})
                raise
            if isinstance(error, TimeoutError) and not isinstance(
                    error, aiohttp.ConnectionTimeoutError):
                upstream.observe_failed["timeout"](time.perf_counter() - started)
                await send_problem(send, UpstreamTimeout(
                    f"The {upstream.name} service did not answer within "
                    f"{upstream.timeout_seconds:g} s.",
                    service=upstream.name, timeout_seconds=upstream.timeout_seconds),
                    scope["path"])
                return
            if isinstance(error.__cause__, ClientGone) or isinstance(error.__context__, ClientGone):
                return
            upstream.observe_failed["unavailable"](time.perf_counter() - started)
            logger.warning("upstream unavailable",
                           extra={"service": upstream.name, "error": repr(error)})
            await send_problem(send, UpstreamUnavailable(
                f"The {upstream.name} service is unavailable.", service=upstream.name),
                scope["path"])

    @staticmethod
    async def _relay_body(response: aiohttp.ClientResponse, send: Send) -> None:
        length = response.content_length
        if length is not None and length <= BUFFER_LIMIT:
            await send({"type": "http.response.body", "body": await response.read()})
            return
        content = response.content
        message: Message
        while True:
            chunk = await content.readany()
            if not chunk:
                break
            message = {"type": "http.response.body", "body": chunk, "more_body": True}
            await send(message)
        await send({"type": "http.response.body", "body": b""})
