"""Which headers cross the gateway, in each direction (RFC 9110 section 7.6.1).

Hop-by-hop headers describe one connection and never travel further; ``Host`` is the
gateway's own; ``X-Forwarded-*`` tell the upstream who really called. ``X-Forwarded-For`` is
the one client address the gateway resolved (``domain/forwarding.py``), never the chain the
client sent: the services trust the gateway's header, so a forged hop must not reach them.
Header names arrive lower-case from ASGI and in any case from the upstream, so both are
compared lower-cased.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade",
})

# Replaced by the gateway (X-Forwarded-*, X-Request-ID) or computed by the HTTP client from
# the body it actually sends (Content-Length).
_REPLACED_ON_REQUEST = frozenset({
    b"host", b"content-length", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
    b"x-request-id", b"x-request-deadline",
})

# ``date`` and ``server`` are written again by the gateway's HTTP server, and the request id
# again by its request-context middleware; passing the upstream's would send them twice.
_REPLACED_ON_RESPONSE = frozenset({b"date", b"server", b"x-request-id"})


def _connection_options(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Header names listed in ``Connection``: hop-by-hop for this message too."""
    names: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            names.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return names


def _is_hop_by_hop(name: bytes) -> bool:
    return name in HOP_BY_HOP or name.startswith(b"proxy-")


@dataclass(frozen=True, slots=True)
class UpstreamRequestHeaders:
    """The headers to send upstream, and what the request said about its body."""

    headers: list[tuple[str, str]]
    content_length: int | None
    chunked: bool


def upstream_request_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    client: str | None,
    scheme: str,
    request_id: str | None,
    deadline_seconds: float | None = None,
) -> UpstreamRequestHeaders:
    """Filter the client's headers for the upstream and add the forwarding headers.

    ``client`` is the resolved client address, sent as the whole ``X-Forwarded-For``.
    ``deadline_seconds``, how long the gateway will wait for the answer, goes up as
    ``X-Request-Deadline``, so that the service stops work nobody waits for any more.
    Repeated headers keep their order. ``Authorization`` passes unchanged: the services
    verify the token again.
    """
    raw = list(headers)
    dropped = _connection_options(raw) if any(n == b"connection" for n, _ in raw) else set()
    kept: list[tuple[str, str]] = []
    host: bytes | None = None
    content_length: int | None = None
    chunked = False
    for name, value in raw:
        name = name.lower()
        if name in _REPLACED_ON_REQUEST or _is_hop_by_hop(name) or name in dropped:
            if name == b"content-length":
                content_length = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"host":
                host = value
            continue
        kept.append((name.decode("latin-1"), value.decode("latin-1")))
    if client:
        kept.append(("x-forwarded-for", client))
    kept.append(("x-forwarded-proto", scheme))
    if host is not None:
        kept.append(("x-forwarded-host", host.decode("latin-1")))
    if request_id:
        kept.append(("x-request-id", request_id))
    if deadline_seconds is not None:
        kept.append(("x-request-deadline", f"{deadline_seconds:g}"))
    return UpstreamRequestHeaders(kept, content_length, chunked and content_length is None)


def client_response_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers, minus hop-by-hop ones, lower-cased for ASGI."""
    raw = list(headers)
    dropped = _connection_options(raw) if any(n.lower() == b"connection" for n, _ in raw) else set()
    kept: list[tuple[bytes, bytes]] = []
    for name, value in raw:
        name = name.lower()
        if _is_hop_by_hop(name) or name in _REPLACED_ON_RESPONSE or name in dropped:
            continue
        kept.append((name, value))
    return kept
