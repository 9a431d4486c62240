"""The ASGI layer that puts the real client address in the scope, before anything reads it.

It replaces uvicorn's ``--proxy-headers``, which the gateway runs without: uvicorn trusts
``127.0.0.1`` by default, so any local client could name itself. Everything after this layer
(the access log, the rate limit, the ``X-Forwarded-For`` sent upstream) sees one address.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from specimen_gateway.domain.forwarding import (
    TrustedProxies,
    forwarded_hops,
    forwarded_scheme,
    resolve_client,
)


class ClientAddressMiddleware:
    """Resolve ``scope["client"]`` (and ``scheme``) through the configured trusted proxies."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted.networks:
            client = scope.get("client")
            peer = client[0] if client else None
            forwarded: list[bytes] = []
            proto: bytes | None = None
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded.append(value)
                elif name == b"x-forwarded-proto":
                    proto = value
            resolved = resolve_client(peer, forwarded_hops(forwarded), self.trusted)
            if client and resolved != peer:
                scope["client"] = (resolved, 0)
            scheme = forwarded_scheme(peer, proto, self.trusted)
            if scheme is not None:
                scope["scheme"] = scheme
        await self.app(scope, receive, send)
