"""One pooled aiohttp session per upstream service, owned by the gateway's lifespan.

Each service gets its own connector so that one slow service cannot take every pooled
connection; the connection limit, timeouts and keep-alive are per service.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client import Histogram
from yarl import URL

from specimen_gateway.config import GatewaySettings

UPSTREAM_LATENCY = Histogram(
    "specimen_gateway_upstream_duration_seconds",
    "Time from sending a request upstream to its response headers, by service and outcome.",
    ("service", "outcome"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

# The upstreams run uvicorn, which closes idle keep-alive connections after 5 s; closing ours
# first avoids reusing a connection the server is closing (a spurious 503).
KEEPALIVE_SECONDS = 4.0
READY_TIMEOUT_SECONDS = 2.0
# aiohttp adds these when absent; a proxy must send only what the client sent.
SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class UpstreamNotReady(Exception):
    """The service answered its readiness probe with something other than 200."""


@dataclass
class Upstream:
    """A service behind the gateway: its base URL, session and timeouts."""

    name: str
    base_url: str
    session: aiohttp.ClientSession
    timeout_seconds: float
    timeout: aiohttp.ClientTimeout
    observe_ok: Any = field(init=False, repr=False)
    observe_failed: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Bound once: looking label children up is the costly part of an observation.
        self.observe_ok = UPSTREAM_LATENCY.labels(self.name, "response").observe
        self.observe_failed = {
            outcome: UPSTREAM_LATENCY.labels(self.name, outcome).observe
            for outcome in ("unavailable", "timeout")
        }

    def url(self, raw_path: bytes, query_string: bytes) -> URL:
        """The upstream URL, with the client's path and query bytes exactly as sent."""
        target = self.base_url + raw_path.decode("latin-1")
        if query_string:
            target += "?" + query_string.decode("latin-1")
        return URL(target, encoded=True)

    async def check_ready(self) -> None:
        """Readiness check: the service's own ``/readyz`` answers 200."""
        timeout = aiohttp.ClientTimeout(total=READY_TIMEOUT_SECONDS)
        async with self.session.get(self.base_url + "/readyz", timeout=timeout) as response:
            if response.status != 200:
                raise UpstreamNotReady(f"/readyz answered {response.status}")

    async def fetch_json(self, path: str, timeout_seconds: float) -> Any:
        timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        async with self.session.get(self.base_url + path, timeout=timeout) as response:
            response.raise_for_status()
            return await response.json(content_type=None)


@asynccontextmanager
async def open_upstreams(settings: GatewaySettings) -> AsyncIterator[Mapping[str, Upstream]]:
    """Sessions for users, segment and classify, closed when the gateway stops."""
    timeouts = settings.upstream_timeouts()
    async with AsyncExitStack() as stack:
        upstreams: dict[str, Upstream] = {}
        for name, base_url in settings.upstream_urls().items():
            connector = aiohttp.TCPConnector(
                limit=settings.max_connections, keepalive_timeout=KEEPALIVE_SECONDS,
            )
            session = await stack.enter_async_context(aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=SKIP_AUTO_HEADERS,
                cookie_jar=aiohttp.DummyCookieJar(),
            ))
            seconds = timeouts[name]
            # sock_read bounds the wait for the answer and every pause while streaming it
            # (an idle timeout, as proxies use); connect bounds waiting for a pooled slot.
            timeout = aiohttp.ClientTimeout(
                total=None, connect=seconds, sock_connect=settings.connect_timeout,
                sock_read=seconds,
            )
            upstreams[name] = Upstream(name, base_url, session, seconds, timeout)
        yield upstreams
        # Let aiohttp finish closing transports before the loop goes away.
        await asyncio.sleep(0)
